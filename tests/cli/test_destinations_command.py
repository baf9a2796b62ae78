"""sluicegate destinations: the groups on each stream and whose they are; forget removes the
groups of a destination gone from the file and trims what only they held back."""

import json

import pytest

from sluicegate.queue import keys
from sluicegate.queue.client import as_text
from sluicegate.queue.reader import QueueReader
from tests.in_process import run_in_process
from tests.loading import enqueue, make_events


@pytest.fixture
def left_behind(subprocess_env, redis_client, tmp_path):
    """Queues a and b, read by ``sql`` and ``lake`` (in the file) and ``gone`` (not any more):
    sql and lake have every event, gone none, so the streams keep them all."""
    destinations = tmp_path / "destinations.toml"
    destinations.write_text('[destinations.sql]\nkind = "sql"\n[destinations.lake]\nkind = "sql"\n')
    starts = [(keys.consumer_group(name), "0") for name in ("sql", "lake", "gone")]
    for queue in "ab":
        enqueue(subprocess_env["REDIS_URL"], make_events(queue, 5))
        for name in ("sql", "lake"):
            reader = QueueReader(redis_client, queue, "c1", name, starts)
            reader.ensure_groups()
            reader.ack(reader.read_new(5, block_ms=None), persisted=5, duplicates=0)
        assert redis_client.xlen(keys.stream_key(queue)) == 5  # gone holds them back
    return {**subprocess_env, "DESTINATIONS_FILE": str(destinations)}


def test_lists_every_group_and_the_ones_left_behind(left_behind):
    listed = run_in_process(left_behind, "destinations", "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert [d["name"] for d in found["destinations"]] == ["sql", "lake"]
    groups = {(g["queue"], g["destination"]): g for g in found["groups"]}
    assert groups["a", "gone"]["standing"] == "left behind"
    assert (groups["a", "gone"]["lag"], groups["a", "gone"]["pending"]) == (5, 0)
    assert (groups["b", "lake"]["standing"], groups["b", "lake"]["lag"]) == ("serving", 0)
    table = run_in_process({**left_behind, "COLUMNS": "200"}, "destinations")
    assert "gone is not in DESTINATIONS_FILE" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lake", "--yes"), "lake is a destination of"),
        (("gone",), "give --yes"),
        (("Bad Name", "--yes"), "is not a destination name"),
    ],
)
def test_forget_refuses(left_behind, redis_client, args, message):
    refused = run_in_process(left_behind, "destinations", "forget", *args)
    assert (refused.returncode, message in refused.stderr) == (2, True), refused.stderr
    assert redis_client.xlen(keys.stream_key("a")) == 5


def test_forget_destroys_the_group_and_trims_what_it_held_back(left_behind, redis_client):
    forgot = run_in_process(left_behind, "destinations", "forget", "gone", "--queue", "a*", "--yes")
    assert forgot.returncode == 0, forgot.stderr
    assert "forgot gone on a: 5 entries trimmed" in forgot.stdout
    assert redis_client.xlen(keys.stream_key("a")) == 0
    assert redis_client.xlen(keys.stream_key("b")) == 5  # not matched by --queue
    groups = {as_text(g["name"]) for g in redis_client.xinfo_groups(keys.stream_key("a"))}
    assert groups == {"consumers", "consumers:lake"}
    again = run_in_process(left_behind, "destinations", "forget", "gone", "--yes")
    assert "forgot gone on 1 of 2 queues" in again.stdout
    assert redis_client.xlen(keys.stream_key("b")) == 0
