"""The event as it travels: minted id, JSON payload, accepted-at; and its stream-entry encoding."""

import os
import time
from dataclasses import dataclass, field
from typing import Any

from sluicegate.queue import keys

_ID = keys.FIELD_EVENT_ID.encode()
_PAYLOAD = keys.FIELD_PAYLOAD.encode()
_ACCEPTED_AT = keys.FIELD_ACCEPTED_AT.encode()
_TRACEPARENT = keys.FIELD_TRACEPARENT.encode()


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562): time-ordered, so ids sort by acceptance and index well."""
    unix_ms = now_ms()
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & (2**48 - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= (rand >> 68) << 64  # 12 bits rand_a
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & (2**62 - 1)  # 62 bits rand_b
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Event:
    """One accepted event. ``payload`` is the JSON text exactly as it will be stored;
    ``traceparent`` the W3C trace context of the request that brought it, if it had one (the
    consumer's persist span links to it: ``tracing``). ``document``: in the API only, the value
    ``payload`` was made from, so that the schema check need not parse it again (never stored;
    None when not at hand)."""

    queue: str
    event_id: str
    payload: str
    accepted_at_ms: int
    traceparent: str | None = None
    document: Any = field(default=None, compare=False, repr=False)

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
        traceparent = fields.get(_TRACEPARENT)
        return cls(
            queue,
            fields[_ID].decode(),
            fields[_PAYLOAD].decode(),
            int(fields[_ACCEPTED_AT]),
            None if traceparent is None else traceparent.decode(),
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event handed to a consumer: the stream entry id is needed to ack it, never to dedupe."""

    entry_id: str
    event: Event
