"""DESTINATIONS_FILE: the registry a queue's destinations come from, and the mistakes refused."""

import pytest

from sluicegate.destination.config import DEFAULT, Destination, load_destinations
from sluicegate.errors import ConfigurationError
from sluicegate.queue import keys

TWO_SQL = """
[destinations.sql]
kind = "sql"
[destinations.copy]
kind = "sql"
url = "sqlite:////tmp/copy.db"
start = "now"
[[routes]]
queues = ["orders-*", "audit"]
destinations = ["sql", "copy"]
[[routes]]
queues = ["orders-eu"]
destinations = ["copy"]
"""


@pytest.fixture
def write(tmp_path):
    def written(text: str):
        path = tmp_path / "destinations.toml"
        path.write_text(text)
        return path

    return written


def test_without_the_file_a_queue_has_one_sql_destination_with_the_group_of_old():
    assert load_destinations(None) is DEFAULT
    (only,) = DEFAULT.for_queue("orders")
    assert (only.name, only.kind, only.url, only.group) == ("sql", "sql", None, "consumers")


def test_the_groups_of_other_destinations_and_back():
    assert keys.consumer_group("lake") == "consumers:lake"
    assert keys.destination_of_group("consumers:lake") == "lake"
    assert keys.destination_of_group(keys.consumer_group("sql")) == "sql"


def test_the_first_matching_route_wins_and_the_unmatched_go_everywhere(write):
    registry = load_destinations(write(TWO_SQL))
    assert registry.named("copy") == Destination("copy", "sql", "now", "sqlite:////tmp/copy.db")
    assert [d.name for d in registry.for_queue("orders-eu")] == ["sql", "copy"]
    assert [d.name for d in registry.for_queue("audit")] == ["sql", "copy"]
    assert [d.name for d in registry.for_queue("clicks")] == ["sql", "copy"]
    assert registry.index("copy") == 1


def test_a_delta_destination_gathers_its_batches_and_routes_like_any(write, tmp_path):
    registry = load_destinations(
        write(
            "[destinations.sql]\nkind = 'sql'\n[destinations.lake]\nkind = 'delta'\n"
            f"uri = 'file://{tmp_path}/lake'\nbatch_max_events = 2000\nbatch_max_seconds = 3\n"
            "start = 'now'\n[destinations.lake.storage_options]\nA = 'b'\n"
        )
    )
    lake = registry.named("lake")
    assert (lake.kind, lake.start, lake.batch_max_events, lake.batch_max_seconds) == (
        "delta",
        "now",
        2000,
        3.0,
    )
    assert registry.for_queue("orders") == registry.all  # options with a dict: still routed


def test_a_default_list_takes_the_queues_no_route_matches(write):
    registry = load_destinations(write('default = ["copy"]\n' + TWO_SQL))
    assert [d.name for d in registry.for_queue("clicks")] == ["copy"]
    assert [d.name for d in registry.for_queue("orders-1")] == ["sql", "copy"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one [destinations.NAME]"),
        ("[destinations.sql]\nkind = 'mysql'\n", "kind must be one of sql, delta"),
        ("[destinations.Sql]\nkind = 'sql'\n", "a name is 1 to 64"),
        ("[destinations.sql]\nkind = 'sql'\nstart = 'later'\n", "start must be one of"),
        ("[destinations.sql]\nkind = 'sql'\nuri = 'x'\n", "unknown keys ['uri'] for kind sql"),
        ("[destinations.sql]\nkind = 'sql'\nurl = 3\n", "url must be a database URL"),
        ("[destination.sql]\nkind = 'sql'\n", "unknown keys ['destination']"),
        (
            "[destinations.sql]\nkind = 'sql'\n[[routes]]\nqueues = ['a']\ndestinations = ['b']\n",
            "routes[0]: destinations: no [destinations.NAME] table for ['b']",
        ),
        (
            "[destinations.sql]\nkind='sql'\n[[routes]]\nqueues=['A']\ndestinations=['sql']\n",
            "queue pattern 'A'",
        ),
        (
            "[destinations.sql]\nkind = 'sql'\n[[routes]]\nqueues = []\ndestinations = ['sql']\n",
            "queues must be a non-empty list",
        ),
        (
            "[destinations.sql]\nkind = 'sql'\n[[routes]]\nqueues = ['a']\ndestinations = []\n",
            "must name at least one destination",
        ),
        (
            "[destinations.sql]\nkind='sql'\n[[routes]]\nqueues=['a']\ndestinations=['sql','sql']\n",
            "named twice",
        ),
        ("[destinations.sql]\nkind = 'sql'\n[[routes]]\nqueues = ['a']\n", "exactly the keys"),
        ("[destinations.sql]\nkind = 'sql'\ndefault = 'sql'\n", "unknown keys ['default']"),
        ("default = 'sql'\n[destinations.sql]\nkind = 'sql'\n", "must be a list"),
        ("[destinations\n", "DESTINATIONS_FILE"),
    ],
)
def test_a_mistake_names_the_file_and_the_entry(write, text, message):
    path = write(text)
    with pytest.raises(ConfigurationError) as error:
        load_destinations(path)
    assert message in str(error.value)
    assert str(error.value).startswith(f"DESTINATIONS_FILE {path}")


def test_a_delta_destination_is_routed_like_any_other(write, tmp_path):
    """Its options hold a mapping (storage_options): the registry, cached by value, must still
    hash (an agent with a Delta destination died of 'unhashable type: dict' at its first poll,
    drill --destinations sql,delta)."""
    lake = f'[destinations.lake]\nkind = "delta"\nuri = "{(tmp_path / "lake").as_uri()}"\n'
    registry = load_destinations(write('[destinations.sql]\nkind = "sql"\n' + lake))
    assert [d.name for d in registry.for_queue("orders")] == ["sql", "lake"]
