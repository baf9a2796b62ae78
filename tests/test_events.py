import operator
import re
import uuid

from hypothesis import given
from hypothesis import strategies as st

from sluicegate.events import Delivery, Event, new_event_id, new_event_ids, now_ms
from sluicegate.queue import keys
from sluicegate.queue.entry_format import decode_entries

UUID_V7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_minted_ids_are_uuid_v7_and_time_ordered():
    ids = [new_event_id() for _ in range(2000)]
    assert all(UUID_V7.fullmatch(event_id) for event_id in ids)
    assert all(uuid.UUID(event_id).version == 7 for event_id in ids[:10])
    assert len(set(ids)) == len(ids)
    stamps = [event_id[:13] for event_id in ids]  # the 48-bit millisecond prefix
    assert stamps == sorted(stamps)


def test_ids_minted_together_are_uuid_v7_of_this_millisecond():
    """A request's ids in one call: each its own random bits, the version and variant set."""
    before_ms = now_ms()
    ids = new_event_ids(1000)
    after_ms = now_ms()
    assert all(UUID_V7.fullmatch(event_id) for event_id in ids)
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(event_id) for event_id in ids]
    assert {(u.version, u.variant) for u in parsed} == {(7, uuid.RFC_4122)}
    assert all(before_ms <= u.int >> 80 <= after_ms for u in parsed)
    assert new_event_ids(0) == []


@given(event_id=st.text(min_size=1, max_size=50), payload=st.text(), at=st.integers(0, 2**53))
def test_stream_fields_round_trip(event_id, payload, at):
    event = Event("q", event_id, payload, at)
    fields = {k.encode(): str(v).encode() for k, v in event.to_fields().items()}
    assert Event.from_fields("q", fields) == event


@given(st.from_regex(keys.QUEUE_NAME_PATTERN, fullmatch=True))
def test_valid_queue_names_are_accepted(name):
    assert keys.is_valid_queue_name(name)


def test_invalid_queue_names_are_refused():
    for name in ["", "Orders", "-x", "a" * 65, "a b", "a{b}", "ü"]:
        assert not keys.is_valid_queue_name(name)


def test_per_queue_keys_share_one_cluster_slot():
    tagged = [
        keys.stream_key("q1"),
        keys.dead_letter_key("q1"),
        keys.stats_key("q1"),
        keys.lock_key("q1"),
    ]
    assert {key[key.index("{") : key.index("}") + 1] for key in tagged} == {"{q1}"}


@given(
    event_id=st.text(min_size=1, max_size=20),
    payload=st.text(),
    at=st.integers(0, 2**53),
    traceparent=st.none() | st.just("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    shuffled=st.booleans(),
)
def test_stream_entries_decode_by_position_or_by_name(event_id, payload, at, traceparent, shuffled):
    """Entries in the writers' field order are read by position; any other order by name."""
    event = Event("q", event_id, payload, at, traceparent)
    pairs = [(k.encode(), str(v).encode()) for k, v in event.to_fields().items()]
    if shuffled:
        pairs.reverse()
    flat = [part for pair in pairs for part in pair]
    deleted = (b"2-0", None)  # an entry deleted meanwhile: nothing to deliver
    assert decode_entries("q", [(b"1-0", flat), deleted]) == [Delivery("1-0", event)]


def test_the_api_documents_stay_out_of_equality_hash_and_repr():
    plain = Event("q", "e1", '{"a": 1}', 5)
    parsed = Event("q", "e1", '{"a": 1}', 5, document={"a": 1})
    assert parsed == plain
    assert operator.ne(parsed, plain) is False  # tuple's own != would see the documents
    assert hash(parsed) == hash(plain)
    assert parsed != Event("q", "e2", '{"a": 1}', 5)
    assert "document" not in repr(parsed)
