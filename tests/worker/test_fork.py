"""Which consumer class a forked consumer runs (CONSUMER_CLASS)."""

import pytest

from sluicegate.errors import ConfigurationError
from sluicegate.worker.fork import DEFAULT_CONSUMER, load_consumer_class
from sluicegate.worker.visit import QueueVisit
from tests.broken_consumer import DiesAtStartConsumer


def test_the_default_and_its_name_before_issue_20_load_the_queue_visit():
    assert load_consumer_class(DEFAULT_CONSUMER) is QueueVisit
    assert load_consumer_class("sluicegate.worker.consumer:Consumer") is QueueVisit


def test_a_subclass_loads_by_its_path():
    assert load_consumer_class("tests.broken_consumer:DiesAtStartConsumer") is DiesAtStartConsumer


@pytest.mark.parametrize("path", ["sluicegate.worker.nothing:X", "sluicegate.events:Event"])
def test_a_path_that_names_no_queue_visit_is_refused(path):
    with pytest.raises(ConfigurationError, match="CONSUMER_CLASS"):
        load_consumer_class(path)
