"""The collector settings of the API and the consumers (applied in this process, then put back)."""

import gc

import pytest

from sluicegate.process import collector


@pytest.mark.parametrize("collect_first", [True, False])
def test_start_up_objects_are_frozen_and_young_collections_rarer(collect_first: bool) -> None:
    threshold = gc.get_threshold()
    try:
        collector.settle(collect_first)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
