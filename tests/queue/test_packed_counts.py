"""Packed entries (a request's events in one stream entry) on a real server: every count a
person reads (queued, in flight, the depth limit, each destination's line) is in events, exact
while entries hold one event or many, across acks, dead letters, trims by several groups, a
destination added later and a stream written before the counts were kept."""

from sluicegate.queue import keys
from sluicegate.queue.lanes import stream_states
from sluicegate.queue.reader import QueueReader
from sluicegate.queue.stats import snapshot
from tests.loading import enqueue, make_events

BOTH = [(keys.consumer_group("sql"), "0"), (keys.consumer_group("lake"), "0")]


def lines(client, queue="q"):
    """(queued, in flight, unaccounted) of each destination."""
    return [
        (lane.queued, lane.in_flight, lane.unaccounted) for lane in snapshot(client, queue).lanes
    ]


def test_counts_follow_events_from_queued_to_in_flight_to_gone(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 6), batch=3, packing=True)  # two entries of 3
    enqueue(redis_server.url, make_events("q", 1), packing=True)  # one alone
    assert redis_client.xlen(keys.stream_key("q")) == 3
    assert lines(redis_client) == [(7, 0, 0)]
    reader = QueueReader(redis_client, "q", "c1")
    reader.learn_entry_size()  # 7 events in 3 entries
    assert reader.entries_for(500) == 214
    first = reader.read_new(1, block_ms=None)  # one entry: 3 events
    assert [d.entry_id for d in first] == [first[0].entry_id] * 3
    assert lines(redis_client) == [(4, 3, 0)]
    reader.ack(first, persisted=3, duplicates=0)
    assert lines(redis_client) == [(4, 0, 0)]
    rest = reader.read_new(4, block_ms=None)  # about 4 events: 3 an entry, as read last
    assert len(rest) == 3
    reader.ack(rest, persisted=3, duplicates=0)
    rest = reader.read_new(3, block_ms=None)
    assert len(rest) == 1
    reader.ack(rest, persisted=0, duplicates=1)
    state = snapshot(redis_client, "q")
    assert (state.queued, state.in_flight, state.persisted_acks, state.unaccounted) == (0, 0, 6, 0)
    assert redis_client.xlen(keys.stream_key("q")) == 0


def test_an_ack_sent_twice_counts_its_events_once(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 4), batch=4, packing=True)
    reader = QueueReader(redis_client, "q", "c1")
    batch = reader.read_new(4, block_ms=None)
    reader.ack(batch, persisted=4, duplicates=0)
    reader.ack(batch, persisted=0, duplicates=4)  # a reply lost, the ack sent again
    assert lines(redis_client) == [(0, 0, 0)]


def test_refused_events_of_an_entry_leave_with_its_ack_and_only_once(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 5), batch=5, packing=True)
    reader = QueueReader(redis_client, "q", "c1")
    entry = reader.read_new(5, block_ms=None)
    refused = [(entry[1], "refused: no customer"), (entry[3], "refused: no order")]
    for _ in range(2):  # the second call is a retry whose first reply was lost
        reader.dead_letter_entry(entry, refused, deliveries=5, stored=3, duplicates=0)
    letters = redis_client.xrange(keys.dead_letter_key("q"))
    assert [fields[b"id"].decode() for _, fields in letters] == [
        entry[1].event.event_id,
        entry[3].event.event_id,
    ]
    assert letters[1][1][b"reason"] == b"refused: no order"
    assert letters[0][1][b"payload"].decode() == entry[1].event.payload
    state = snapshot(redis_client, "q")
    assert (state.queued, state.in_flight, state.dead_lettered, state.persisted_acks) == (
        0,
        0,
        2,
        3,
    )
    assert state.unaccounted == 0
    assert redis_client.xlen(keys.stream_key("q")) == 0


def test_each_destination_counts_its_own_events_while_the_stream_waits_for_both(
    redis_server, redis_client
):
    enqueue(redis_server.url, make_events("q", 8), batch=4, packing=True)
    sql = QueueReader(redis_client, "q", "c1", "sql", BOTH)
    lake = QueueReader(redis_client, "q", "c1", "lake", BOTH)
    sql.ensure_groups()
    sql.ack(sql.read_new(8, block_ms=None), persisted=8, duplicates=0)
    in_lake = lake.read_new(1, block_ms=None)
    assert lines(redis_client) == [(0, 0, 0), (4, 4, 0)]
    assert redis_client.xlen(keys.stream_key("q")) == 2  # the lake has had neither
    lake.ack(in_lake, persisted=4, duplicates=0)
    assert redis_client.xlen(keys.stream_key("q")) == 1
    assert lines(redis_client) == [(0, 0, 0), (4, 0, 0)]


def test_a_destination_added_to_a_queue_in_use_counts_what_the_stream_holds(
    redis_server, redis_client
):
    enqueue(redis_server.url, make_events("q", 9), batch=3, packing=True)
    sql = QueueReader(redis_client, "q", "c1", "sql", [(keys.consumer_group("sql"), "0")])
    sql.ack(sql.read_new(1, block_ms=None), persisted=3, duplicates=0)  # one entry gone
    starts = [(keys.consumer_group("sql"), "0"), (keys.consumer_group("lake"), "0")]
    QueueReader(redis_client, "q", "c1", "lake", starts).ensure_groups()
    later = [(keys.consumer_group("sql"), "0"), (keys.consumer_group("late"), "$")]
    QueueReader(redis_client, "q", "c1", "late", later).ensure_groups()
    state = stream_states(redis_client, ["q"])["q"]
    assert [state.queued_events(d) for d in ("sql", "lake", "late")] == [6, 6, 0]


def test_a_stream_written_before_counts_were_kept_gets_them_from_its_entries(
    redis_server, redis_client
):
    """An upgrade: entries of one event each, no counts; the first script that keeps counts
    makes them from the stream, and from there on packed entries count right."""
    enqueue(redis_server.url, make_events("q", 5))
    reader = QueueReader(redis_client, "q", "c1")
    reader.read_new(2, block_ms=None)
    redis_client.delete(keys.done_key("q"))  # what 0.4 left: no done counts
    assert lines(redis_client) == [(3, 2, 0)]  # read in entries meanwhile
    enqueue(redis_server.url, make_events("q", 4), batch=4, packing=True)
    assert lines(redis_client) == [(7, 2, 0)]
    own, _ = reader.read_own_pending(10)
    reader.ack(own + reader.read_new(10, block_ms=None), persisted=9, duplicates=0)
    assert lines(redis_client) == [(0, 0, 0)]


def test_a_packed_entry_lost_outside_the_scripts_breaks_the_line_by_its_events(
    redis_server, redis_client
):
    """What a lost batch looks like: the counts alone would not see it; the stream holding
    fewer entries than the scripts left makes status count what it holds."""
    enqueue(redis_server.url, make_events("q", 6), batch=3, packing=True)
    QueueReader(redis_client, "q", "c1").read_new(1, block_ms=None)  # one in flight
    [_, (queued_entry, _)] = redis_client.xrange(keys.stream_key("q"))
    redis_client.xdel(keys.stream_key("q"), queued_entry)
    assert lines(redis_client) == [(0, 3, 3)]
