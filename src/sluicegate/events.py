"""The event as it travels: minted id, JSON payload, accepted-at; and its stream-entry encoding."""

import os
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from sluicegate.queue import keys

# The fields of an entry of one event, as Redis returns them (``queue/entry_format.py`` reads
# entries by them too).
ID_FIELD = keys.FIELD_EVENT_ID.encode()
PAYLOAD_FIELD = keys.FIELD_PAYLOAD.encode()
ACCEPTED_AT_FIELD = keys.FIELD_ACCEPTED_AT.encode()
TRACEPARENT_FIELD = keys.FIELD_TRACEPARENT.encode()


# UUIDv7's fixed bits, set on random bytes by table lookups (bytes.translate): the version
# nibble in the first of each event's 10 random bytes, the variant bits in its third.
_VERSION_7 = bytes(0x70 | (byte & 0x0F) for byte in range(256))
_VARIANT_RFC = bytes(0x80 | (byte & 0x3F) for byte in range(256))


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562): time-ordered, so ids sort by acceptance and index well."""
    return new_event_ids(1)[0]


def new_event_ids(count: int) -> list[str]:
    """``count`` UUIDv7s of this millisecond: 48 bits of time, 74 random bits each.

    One ``os.urandom`` call and one hex conversion for all of them: a batch of 100 costs about
    0.3 µs per id against 1.3 µs minted one by one (the API mints ids for every event sent
    without one). Nothing is kept between calls, so a forked process never repeats its parent's.
    """
    time_hex = f"{now_ms() & (2**48 - 1):012x}"
    time_part = f"{time_hex[:8]}-{time_hex[8:]}"
    rand = bytearray(os.urandom(10 * count))
    rand[0::10] = rand[0::10].translate(_VERSION_7)  # 4 bits version, 12 bits rand_a
    rand[2::10] = rand[2::10].translate(_VARIANT_RFC)  # 2 bits variant, 62 bits rand_b
    digits = rand.hex()
    return [
        f"{time_part}-{digits[i : i + 4]}-{digits[i + 4 : i + 8]}-{digits[i + 8 : i + 20]}"
        for i in range(0, 20 * count, 20)
    ]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Event(NamedTuple):
    """One accepted event. ``payload`` is the JSON text exactly as it will be stored;
    ``traceparent`` the W3C trace context of the request that brought it, if it had one (the
    consumer's persist span links to it: ``tracing``). ``document``: in the API only, the value
    ``payload`` was made from, so that the schema check need not parse it again (never stored;
    None when not at hand; not part of equality, hash or repr).

    A named tuple, not a dataclass: a consumer makes one per stream entry, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost about 1 µs of the
    consumer's ~9 µs per event (``bench/bench_consumer.py``)."""

    queue: str
    event_id: str
    payload: str
    accepted_at_ms: int
    traceparent: str | None = None
    document: Any = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self[:5] == other[:5]

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self[:5])

    def __repr__(self) -> str:
        return (
            f"Event(queue={self.queue!r}, event_id={self.event_id!r}, payload={self.payload!r}, "
            f"accepted_at_ms={self.accepted_at_ms!r}, traceparent={self.traceparent!r})"
        )

    def to_fields(self) -> dict[str, str | int]:
        fields: dict[str, str | int] = {
            keys.FIELD_EVENT_ID: self.event_id,
            keys.FIELD_PAYLOAD: self.payload,
            keys.FIELD_ACCEPTED_AT: self.accepted_at_ms,
        }
        if self.traceparent is not None:
            fields[keys.FIELD_TRACEPARENT] = self.traceparent
        return fields

    @classmethod
    def from_fields(cls, queue: str, fields: dict[bytes, bytes]) -> "Event":
        traceparent = fields.get(TRACEPARENT_FIELD)
        return cls(
            queue,
            fields[ID_FIELD].decode(),
            fields[PAYLOAD_FIELD].decode(),
            int(fields[ACCEPTED_AT_FIELD]),
            None if traceparent is None else traceparent.decode(),
        )


def request_events(
    queue: str,
    event_ids: Sequence[str],
    payloads: Sequence[str],
    accepted_at_ms: int,
    documents: Sequence[Any] | None,
) -> list[Event]:
    """The events of one request (no traceparent yet), made like ``decode_entries``'s: without
    the named tuple's Python-level ``__new__`` per event. ``documents``: None when the adapter
    built no values (the schema gate parses the stored text, where a contract applies)."""
    if documents is None:
        return [
            new_tuple(Event, (queue, event_id, payload, accepted_at_ms, None, None))
            for event_id, payload in zip(event_ids, payloads, strict=True)
        ]
    return [
        new_tuple(Event, (queue, event_id, payload, accepted_at_ms, None, document))
        for event_id, payload, document in zip(event_ids, payloads, documents, strict=True)
    ]


class Delivery(NamedTuple):
    """An event handed to a consumer: the stream entry id is needed to ack it, never to dedupe."""

    entry_id: str
    event: Event


new_tuple = tuple.__new__  # a named tuple made without its Python-level __new__: the hot path's
