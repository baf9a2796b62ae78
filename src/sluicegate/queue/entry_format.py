"""How events are laid out in a queue's stream entries, and how every reader gets them back.

A request of one event is one entry: ``id payload accepted_at_ms [traceparent]``. A request of
several events is one *packed* entry: ``n ids payloads accepted_at_ms [traceparent]``, its ids and
its payloads each joined by U+001E. Redis then spends its work per request, not per event (an
``XADD``, a delivery, an ack; ``bench/bench_valkey_calls.py``, variant ``packed``), and the
consumer splits each column with one C call. U+001E cannot occur in an event id (the API refuses
control characters) nor in a JSON text (a control character must be escaped inside a string);
a batch whose values hold one anyway is written one entry per event, as is every batch while
``QUEUE_ENTRY_PACKING=off``.

Every promise is still kept per event: the consumer acknowledges an entry only once all its
events are stored or dead-lettered (``worker/poison.py``), and the queue's counts are kept in
events (docs/performance.md, "One entry per request").
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import groupby
from operator import attrgetter

from sluicegate.events import (
    ACCEPTED_AT_FIELD,
    ID_FIELD,
    PAYLOAD_FIELD,
    TRACEPARENT_FIELD,
    Delivery,
    Event,
    new_tuple,
)
from sluicegate.queue import keys

SEPARATOR = "\x1e"

_COUNT = keys.FIELD_COUNT.encode()
_IDS = keys.FIELD_IDS.encode()
_PAYLOADS = keys.FIELD_PAYLOADS.encode()
_SINGLE = [ID_FIELD, PAYLOAD_FIELD, ACCEPTED_AT_FIELD]
_SINGLE_TRACED = [*_SINGLE, TRACEPARENT_FIELD]
_PACKED = [_COUNT, _IDS, _PAYLOADS, ACCEPTED_AT_FIELD]
_PACKED_TRACED = [*_PACKED, TRACEPARENT_FIELD]


def packable(events: Sequence[Event]) -> bool:
    """Can ``events`` (one request's) travel as one packed entry? Two or more, one acceptance
    time, and no separator inside an id or a payload."""
    if len(events) < 2:
        return False
    first = events[0].accepted_at_ms
    if any(event.accepted_at_ms != first for event in events):
        return False
    return not any(SEPARATOR in event.event_id or SEPARATOR in event.payload for event in events)


def joined_columns(events: Sequence[Event]) -> tuple[str, str]:
    """The ids and the payloads of a ``packable`` batch, each column as one text."""
    return (
        SEPARATOR.join([event.event_id for event in events]),
        SEPARATOR.join([event.payload for event in events]),
    )


def decode_entries(
    queue: str, entries: Iterable[tuple[bytes, list[bytes] | None]]
) -> list[Delivery]:
    """Deliveries from a stream read's raw entries (``[entry id, [field, value, …]]``), one per
    event: a packed entry gives its events in order, each with the entry's id.

    Every writer (``enqueue.lua``, ``replay_dead_letter.lua``) writes the fields in one order, so
    they are read by position, without a dict per entry; any other layout is read by name.
    Entries deleted meanwhile come back without fields: there is nothing to deliver."""
    deliveries: list[Delivery] = []
    append = deliveries.append
    for raw_id, flat in entries:
        if not flat:
            continue
        entry_id = raw_id.decode()
        names = flat[::2]
        if names in (_SINGLE, _SINGLE_TRACED):  # traced: from a request that sent a traceparent
            trace = flat[7].decode() if len(flat) == 8 else None
            fields = (queue, flat[1].decode(), flat[3].decode(), int(flat[5]), trace, None)
            append(new_tuple(Delivery, (entry_id, new_tuple(Event, fields))))
        elif names in (_PACKED, _PACKED_TRACED):
            trace = flat[9].decode() if len(flat) == 10 else None
            events = _packed(queue, flat[3], flat[5], int(flat[7]), trace)
            deliveries += [new_tuple(Delivery, (entry_id, event)) for event in events]
        else:
            by_name = dict(zip(names, flat[1::2], strict=False))
            deliveries += [Delivery(entry_id, event) for event in events_of_fields(queue, by_name)]
    return deliveries


def _packed(
    queue: str, ids: bytes, payloads: bytes, accepted_at_ms: int, trace: str | None
) -> list[Event]:
    return [
        new_tuple(Event, (queue, event_id, payload, accepted_at_ms, trace, None))
        for event_id, payload in zip(
            ids.decode().split(SEPARATOR), payloads.decode().split(SEPARATOR), strict=True
        )
    ]


def events_of_fields(queue: str, fields: Mapping[bytes, bytes]) -> list[Event]:
    """The events of one entry whose fields were read by name (redis-py's parsed replies: the
    readers off the hot path), packed or not."""
    if _IDS not in fields:
        return [Event.from_fields(queue, dict(fields))]
    trace = fields.get(TRACEPARENT_FIELD)
    accepted_at_ms = int(fields[ACCEPTED_AT_FIELD])
    traceparent = None if trace is None else trace.decode()
    return _packed(queue, fields[_IDS], fields[_PAYLOADS], accepted_at_ms, traceparent)


def entry_event_ids(fields: Mapping[bytes, bytes]) -> list[str]:
    """The event ids of one entry, without decoding its payloads."""
    ids = fields.get(_IDS)
    if ids is None:
        return [fields[ID_FIELD].decode()]
    return ids.decode().split(SEPARATOR)


def entries_by_id(deliveries: Iterable[Delivery]) -> Iterator[list[Delivery]]:
    """``deliveries`` grouped by their entry, in order: a packed entry's events are adjacent."""
    return (list(entry) for _, entry in groupby(deliveries, key=attrgetter("entry_id")))
