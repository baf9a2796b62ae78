"""Checks every format shares: event ids, batch length, stored size, ids unique in a request.

Hand-written instead of pydantic per request (the hot path: about 3x cheaper); the messages are
pydantic's, so a client sees the same words whichever format it speaks.
``api/openapi/models.py`` still describes the same rules for the OpenAPI document.
"""

import re
from collections.abc import Callable, Sequence

from sluicegate.api.ingest.rules import (
    EVENT_ID_CHARS,
    EVENT_ID_MAX_CHARS,
    EVENT_ID_PATTERN,
    QUEUE_NAME_REGEX,
)
from sluicegate.api.problems import FieldError, ProblemError, describe

_EVENT_ID = re.compile(EVENT_ID_PATTERN)
# Ids one per line: a newline is whitespace, which no id may hold, so one match checks them all.
_EVENT_ID_LINES = re.compile(f"(?:{EVENT_ID_CHARS}\n)*")
_QUEUE_NAME = re.compile(QUEUE_NAME_REGEX)
ID_MESSAGE = (
    f"must be 1 to {EVENT_ID_MAX_CHARS} characters, none of them whitespace or control characters"
)
QUEUE_MESSAGE = "must be 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter or digit"
REQUIRED = "Field required"
EXTRA = "Extra inputs are not permitted"
NOT_AN_OBJECT = "Input should be a valid dictionary"
NOT_A_STRING = "Input should be a valid string"


def invalid(errors: Sequence[FieldError], slug: str = "invalid-event") -> ProblemError:
    """The 422 for schema violations; ``detail`` names every field."""
    return ProblemError(422, slug, describe(errors), errors=errors)


def is_id(value: object) -> bool:
    """A usable event id: what ``id_error`` accepts."""
    return isinstance(value, str) and _EVENT_ID.fullmatch(value) is not None


def all_ids(values: Sequence[str | None]) -> bool:
    """Every value None (an id to mint) or what ``is_id`` accepts: one regex call for a batch."""
    given = [value for value in values if value is not None]
    if not given:
        return True
    return _EVENT_ID_LINES.fullmatch("\n".join(given) + "\n") is not None


def id_error(value: object, field: str) -> FieldError | None:
    """None when ``value`` is a usable event id (``fullmatch``: no trailing newline slips by)."""
    if not isinstance(value, str):
        return FieldError(field, NOT_A_STRING)
    if _EVENT_ID.fullmatch(value) is None:
        return FieldError(field, ID_MESSAGE)
    return None


def check_queue(queue: str) -> None:
    if _QUEUE_NAME.fullmatch(queue) is None:
        raise invalid([FieldError("queue", QUEUE_MESSAGE)], slug="invalid-request")


def check_header_id(value: str | None, header: str) -> None:
    """A header that names the event (``Idempotency-Key``, ``webhook-id``...)."""
    if value is not None and (error := id_error(value, header)) is not None:
        raise invalid([error], slug="invalid-request")


def check_batch_length(count: int, max_events: int) -> None:
    if count == 0:
        raise invalid([FieldError("(body)", "a batch needs at least one event")])
    if count > max_events:
        raise ProblemError(
            413, "batch-too-large", f"the batch has {count} events; the limit is {max_events}"
        )


def check_sizes(texts: Sequence[str], field: Callable[[int], str], max_bytes: int) -> None:
    """Each stored payload, as UTF-8, within ``MAX_EVENT_BYTES`` (413 naming each one).
    ``field(i)`` names the i-th, asked only for one too large."""
    if not texts or max(map(len, texts)) * 4 <= max_bytes:  # the common case, in C
        return
    too_big = []
    for index, text in enumerate(texts):
        # A str's length bounds its UTF-8 size from below, and 4 * length from above.
        if len(text) * 4 > max_bytes and (size := len(text.encode())) > max_bytes:
            message = f"is {size} bytes as JSON; the limit is {max_bytes}"
            too_big.append(FieldError(field(index), message))
    if too_big:
        raise ProblemError(413, "event-too-large", describe(too_big), errors=too_big)


def check_unique(ids: Sequence[str], field: Callable[[int], str], what: str = "event_id") -> None:
    """Two events of one request with one id would be one row: refuse the request instead.
    ``field(i)`` names the i-th, asked only for a duplicate."""
    if len(set(ids)) == len(ids):
        return
    first_seen: dict[str, int] = {}
    duplicates = []
    for index, event_id in enumerate(ids):
        if event_id in first_seen:
            message = f"duplicates the {what} of [{first_seen[event_id]}]"
            duplicates.append(FieldError(field(index), message))
        first_seen.setdefault(event_id, index)
    raise invalid(duplicates)
