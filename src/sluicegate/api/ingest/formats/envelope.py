"""sluicegate's own format: ``{"event_id": ..., "payload": {...}}``, one or a JSON array of them.

Also the per-line check of NDJSON. Every check runs before anything is written; a batch is
all-or-nothing. ``Fields`` names a place in the request for error messages: ``payload`` for a
single event, ``[3].payload`` in a batch, ``line 4: payload`` in NDJSON.
"""

from collections.abc import Callable, Sequence
from typing import Any, cast

from sluicegate.api.ingest import jsontext
from sluicegate.api.ingest.formats import checks, envelope_raw
from sluicegate.api.ingest.formats.base import Intake
from sluicegate.api.problems import FieldError, ProblemError
from sluicegate.events import Event, new_event_ids, now_ms, request_events

Fields = Callable[[int, str], str]
_KNOWN = frozenset({"event_id", "payload"})


def single_field(_: int, name: str) -> str:
    return name or "(body)"


def batch_field(index: int, name: str) -> str:
    return f"[{index}].{name}" if name else f"[{index}]"


def loads(raw: bytes) -> tuple[Any, bool]:
    """``jsontext.loads`` with its error as the API's 400."""
    try:
        return jsontext.loads(raw)
    except jsontext.JsonDecodeError as error:
        raise ProblemError(400, "malformed-json", f"the body is not valid JSON: {error}") from None


def parse_request(raw: bytes, intake: Intake) -> list[Event]:
    """A body of one event or a batch; raises ProblemError (400, 413, 422).

    Read by msgspec without building the payloads (``envelope_raw``); whatever that path leaves
    undecided (and every bad body) goes through orjson, which names what is wrong."""
    split = envelope_raw.read(raw)
    if split is None:
        return _parse_built(raw, intake)
    field, idempotency_key = _shape(split.batch, len(split.texts), intake)
    return _events(split.given, split.texts, None, field, intake, idempotency_key)


def _parse_built(raw: bytes, intake: Intake) -> list[Event]:
    document, exact = loads(raw)
    if not isinstance(document, (dict, list)):
        raise checks.invalid([FieldError("(body)", "must be an event object or an array of them")])
    items = document if isinstance(document, list) else [document]
    field, idempotency_key = _shape(isinstance(document, list), len(items), intake)
    return build(items, exact, field, intake, idempotency_key)


def _shape(batch: bool, count: int, intake: Intake) -> tuple[Fields, str | None]:
    """How fields are named, and the ``Idempotency-Key`` (a single event's only)."""
    idempotency_key = intake.headers.get("idempotency-key")
    if not batch:
        return single_field, idempotency_key
    checks.check_batch_length(count, intake.settings.max_batch_events)
    if idempotency_key is not None:
        message = "applies to a single event only; in a batch, give each event its own event_id"
        raise checks.invalid([FieldError("Idempotency-Key", message)])
    return batch_field, None


def build(
    items: Sequence[Any],
    exact: bool,
    field: Fields,
    intake: Intake,
    idempotency_key: str | None = None,
) -> list[Event]:
    """Check every item, then make the events (ids given, from the key, or minted)."""
    checked = _well_formed(items)
    if checked is None:  # something is wrong: find and name all of it
        checked = _check_items(items, field)
    given, payloads = checked
    texts = jsontext.dumps_all(payloads, exact)
    return _events(given, texts, payloads, field, intake, idempotency_key)


def _events(
    given: Sequence[str | None],
    texts: Sequence[str],
    documents: Sequence[Any] | None,
    field: Fields,
    intake: Intake,
    idempotency_key: str | None,
) -> list[Event]:
    """The stored texts' sizes checked, then the events (ids given, from the key, or minted)."""
    checks.check_sizes(texts, lambda i: field(i, "payload"), intake.settings.max_event_bytes)
    ids = _event_ids(given, field, idempotency_key)
    return request_events(intake.queue, ids, texts, now_ms(), documents)


def _well_formed(items: Sequence[Any]) -> tuple[list[str | None], list[Any]] | None:
    """The common case in one tight pass: every item an object of known fields with an object
    payload and a usable event id, if any. None at the first doubt (``_check_items`` decides)."""
    given: list[str | None] = []
    payloads: list[Any] = []
    for item in items:
        if type(item) is not dict or not _KNOWN.issuperset(item):
            return None
        payload = item.get("payload")
        event_id = item.get("event_id")
        if type(payload) is not dict or (event_id is not None and not checks.is_id(event_id)):
            return None
        given.append(event_id)
        payloads.append(payload)
    return given, payloads


def _check_items(items: Sequence[Any], field: Fields) -> tuple[list[str | None], list[Any]]:
    """Every item checked, every error named (a 422), or what ``_well_formed`` would return."""
    errors: list[FieldError] = []
    given: list[str | None] = []
    payloads: list[Any] = []
    for index, item in enumerate(items):
        event_id, payload = _check_item(item, index, field, errors)
        given.append(event_id)
        payloads.append(payload)
    if errors:
        raise checks.invalid(errors)
    return given, payloads


def _check_item(
    item: Any, index: int, field: Fields, errors: list[FieldError]
) -> tuple[str | None, Any]:
    if not isinstance(item, dict):
        errors.append(FieldError(field(index, ""), checks.NOT_AN_OBJECT))
        return None, None
    if item.keys() - _KNOWN:
        errors.extend(FieldError(field(index, k), checks.EXTRA) for k in item if k not in _KNOWN)
    payload = item.get("payload")
    if payload is None and "payload" not in item:
        errors.append(FieldError(field(index, "payload"), checks.REQUIRED))
    elif not isinstance(payload, dict):
        errors.append(FieldError(field(index, "payload"), checks.NOT_AN_OBJECT))
    event_id = item.get("event_id")
    if event_id is not None and (error := checks.id_error(event_id, field(index, "event_id"))):
        errors.append(error)
    return event_id, payload


def _event_ids(
    given: Sequence[str | None], field: Fields, idempotency_key: str | None
) -> list[str]:
    if idempotency_key is not None:
        if given[0] is not None and given[0] != idempotency_key:
            message = "differs from the body's event_id; send one or the other"
            raise checks.invalid([FieldError("Idempotency-Key", message)])
        return [idempotency_key]
    missing = given.count(None)
    if missing == len(given):
        ids = new_event_ids(missing)
    elif not missing:  # every id given: nothing to mint (minting none still read the clock)
        ids = cast(list[str], list(given))
    else:
        minted = iter(new_event_ids(missing))
        ids = [next(minted) if event_id is None else event_id for event_id in given]
    if len(ids) > 1:
        checks.check_unique(ids, lambda i: field(i, "event_id"))
    return ids
