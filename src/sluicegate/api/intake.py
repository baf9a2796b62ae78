"""From a request body to the events to enqueue: one event or a batch, checked all-or-nothing."""

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from sluicegate.api import jsontext
from sluicegate.api.models import EventIn
from sluicegate.api.problems import (
    FieldError,
    ProblemError,
    describe,
    field_path,
    validation_errors,
)
from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.settings import Settings

_BATCH = TypeAdapter(list[EventIn])


def parse_events(
    raw: bytes, queue: str, idempotency_key: str | None, settings: Settings
) -> list[Event]:
    """Every check a body must pass before anything is written; raises ProblemError."""
    try:
        document, exact = jsontext.loads(raw)
    except jsontext.JsonDecodeError as error:
        raise ProblemError(400, "malformed-json", f"the body is not valid JSON: {error}") from None
    is_batch = isinstance(document, list)
    items = _as_items(document, settings.max_batch_events, idempotency_key)
    events = _validate(items, is_batch)
    payloads = _payload_texts(events, exact, is_batch, settings.max_event_bytes)
    ids = _event_ids(events, idempotency_key, is_batch)
    accepted_at_ms = now_ms()
    return [
        Event(queue=queue, event_id=event_id, payload=payload, accepted_at_ms=accepted_at_ms)
        for event_id, payload in zip(ids, payloads, strict=True)
    ]


def _as_items(document: Any, max_events: int, idempotency_key: str | None) -> list[Any]:
    if isinstance(document, dict):
        return [document]
    if not isinstance(document, list):
        raise _invalid([FieldError("(body)", "must be an event object or an array of them")])
    if not document:
        raise _invalid([FieldError("(body)", "a batch needs at least one event")])
    if len(document) > max_events:
        raise ProblemError(
            413,
            "batch-too-large",
            f"the batch has {len(document)} events; the limit is {max_events}",
        )
    if idempotency_key is not None:
        raise _invalid(
            [
                FieldError(
                    "Idempotency-Key",
                    "applies to a single event only; in a batch, give each event its own event_id",
                )
            ]
        )
    return document


def _validate(items: list[Any], is_batch: bool) -> list[EventIn]:
    try:
        return _BATCH.validate_python(items)
    except ValidationError as error:
        found = validation_errors(error.errors(), lambda loc: _path(loc, is_batch))
        raise _invalid(found) from None


def _payload_texts(
    events: Sequence[EventIn], exact: bool, is_batch: bool, max_bytes: int
) -> list[str]:
    texts = [jsontext.dumps(event.payload, exact) for event in events]
    too_big = [
        FieldError(
            _path((index, "payload"), is_batch),
            f"is {size} bytes as JSON; the limit is {max_bytes}",
        )
        for index, size in enumerate(len(text.encode()) for text in texts)
        if size > max_bytes
    ]
    if too_big:
        raise ProblemError(413, "event-too-large", describe(too_big), errors=too_big)
    return texts


def _event_ids(events: Sequence[EventIn], idempotency_key: str | None, is_batch: bool) -> list[str]:
    if idempotency_key is not None:
        given = events[0].event_id
        if given is not None and given != idempotency_key:
            raise _invalid(
                [
                    FieldError(
                        "Idempotency-Key", "differs from the body's event_id; send one or the other"
                    )
                ]
            )
        return [idempotency_key]
    ids = [event.event_id or new_event_id() for event in events]
    first_seen: dict[str, int] = {}
    duplicates: list[FieldError] = []
    for index, event_id in enumerate(ids):
        if event_id in first_seen:
            message = f"duplicates the event_id of [{first_seen[event_id]}]"
            duplicates.append(FieldError(_path((index, "event_id"), is_batch), message))
        first_seen.setdefault(event_id, index)
    if duplicates:
        raise _invalid(duplicates)
    return ids


def _path(loc: Sequence[int | str], is_batch: bool) -> str:
    """A single event is validated as a batch of one; its paths drop the ``[0]``."""
    return field_path(loc if is_batch else loc[1:])


def _invalid(errors: Sequence[FieldError]) -> ProblemError:
    return ProblemError(422, "invalid-event", describe(errors), errors=errors)
