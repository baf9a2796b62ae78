"""Pages of stored events in acceptance order, for ``GET /v1/events/{queue}`` and ``sluicegate
events list``: keyset pagination (never OFFSET), so a page costs the same at any depth.

The cursor is the last event's (accepted_at, event_id), URL-safe base64 of ``<ms>.<id>``:
opaque to clients, and stable while events are added after it or deleted before it.
"""

import base64
import binascii
from typing import Any

import orjson

from sluicegate.repository.lifecycle import Cursor, StoredEvent

MAX_PAGE = 1000


def encode_cursor(cursor: Cursor) -> str:
    raw = f"{cursor[0]}.{cursor[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> Cursor | None:
    """None for the first page; ValueError for a cursor this server never gave."""
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        millis, _, event_id = raw.partition(".")
        if not event_id:
            raise ValueError("no event id")
        return (int(millis), event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError(f"cursor {text!r} is not one this server gave") from None


def page_json(events: list[StoredEvent], limit: int) -> dict[str, Any]:
    """The page; ``next`` is None once a page comes back shorter than ``limit``."""
    return {
        "events": [
            {
                "event_id": event.event_id,
                "accepted_at_ms": event.accepted_at_ms,
                "persisted_at_ms": event.persisted_at_ms,
                "payload": orjson.Fragment(event.payload),
            }
            for event in events
        ],
        "next": encode_cursor(events[-1].cursor) if len(events) == limit else None,
    }
