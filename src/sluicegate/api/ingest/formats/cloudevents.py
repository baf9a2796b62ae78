"""CloudEvents 1.0 over HTTP: structured, batched and binary mode (HTTP protocol binding 1.0.2).

Every mode stores the whole event in the JSON event format (attributes, extensions and ``data``, or
``data_base64`` kept as sent), so nothing the sender said is lost. The event id is derived from the
pair (source, id), the spec's uniqueness key: see ``ids.scoped_id``. A batch is all-or-nothing; the
spec allows an empty one (answered 202 with nothing accepted).
"""

import base64
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from sluicegate.api.ingest import jsontext
from sluicegate.api.ingest.formats import checks, envelope
from sluicegate.api.ingest.formats.base import Intake, is_json, media_type
from sluicegate.api.ingest.formats.envelope import Fields, batch_field, single_field
from sluicegate.api.ingest.formats.ids import scoped_id
from sluicegate.api.problems import FieldError
from sluicegate.events import Event, now_ms, request_events

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
_REQUIRED = ("id", "source", "type")
_OPTIONAL_STRINGS = ("datacontenttype", "dataschema", "subject", "time")
_DATA = frozenset({"data", "data_base64"})
_NAME = re.compile(r"[a-z0-9]+")
_HEADER_PREFIX = "ce-"
# RFC 3339's date-time (the spec's Timestamp type): a full date and time with an offset.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def structured(raw: bytes, intake: Intake) -> list[Event]:
    document, exact = envelope.loads(raw)
    if not isinstance(document, dict):
        raise checks.invalid([FieldError("(body)", "must be a CloudEvent (a JSON object)")])
    return _events([document], exact, single_field, intake)


def batch(raw: bytes, intake: Intake) -> list[Event]:
    document, exact = envelope.loads(raw)
    if not isinstance(document, list):
        raise checks.invalid([FieldError("(body)", "must be a JSON array of CloudEvents")])
    if document:
        checks.check_batch_length(len(document), intake.settings.max_batch_events)
    return _events(document, exact, batch_field, intake)


def binary(raw: bytes, intake: Intake) -> list[Event]:
    """Attributes from ``ce-*`` headers (percent-decoded), ``Content-Type`` as datacontenttype,
    the body as data: JSON as JSON, UTF-8 text as a string, anything else as data_base64."""
    event: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, value in intake.headers.items():
        if name.startswith(_HEADER_PREFIX):
            event[name[len(_HEADER_PREFIX) :]] = _header_value(value, name, errors)
    if errors:
        raise checks.invalid(errors)
    content_type = intake.headers.get("content-type")
    if content_type:
        event["datacontenttype"] = content_type
    exact = False
    if raw:
        exact = _put_data(event, raw, media_type(content_type))
    return _events([event], exact, _header_field, intake)


def _header_field(_: int, name: str) -> str:
    return f"{_HEADER_PREFIX}{name}" if name else "(headers)"


def _header_value(value: str, name: str, errors: list[FieldError]) -> str:
    """Percent-decoded as UTF-8, as the binding says; raw UTF-8 (not allowed, but sent) too."""
    try:
        return unquote(value.encode("latin-1").decode("utf-8"), errors="strict")
    except UnicodeError:
        errors.append(FieldError(name, "is not percent-encoded UTF-8"))
        return value


def _put_data(event: dict[str, Any], raw: bytes, media: str) -> bool:
    if is_json(media):
        event["data"], exact = envelope.loads(raw)
        return exact
    if media.startswith("text/"):
        try:
            event["data"] = raw.decode("utf-8")
            return False
        except UnicodeDecodeError:
            pass
    event["data_base64"] = base64.b64encode(raw).decode("ascii")
    return False


def _events(items: Sequence[Any], exact: bool, field: Fields, intake: Intake) -> list[Event]:
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        _check(item, index, field, errors)
    if errors:
        raise checks.invalid(errors)
    ids = [scoped_id("ce", item["source"], item["id"]) for item in items]
    checks.check_unique(ids, lambda index: field(index, "id"), what="source and id")
    texts = jsontext.dumps_all(items, exact)
    checks.check_sizes(texts, lambda index: field(index, ""), intake.settings.max_event_bytes)
    return request_events(intake.queue, ids, texts, now_ms(), items)


def _check(item: Any, index: int, field: Fields, errors: list[FieldError]) -> None:
    if not isinstance(item, dict):
        errors.append(FieldError(field(index, ""), "must be a CloudEvent (a JSON object)"))
        return
    version = item.get("specversion")
    if version != "1.0":
        message = checks.REQUIRED if version is None else "must be '1.0'"
        errors.append(FieldError(field(index, "specversion"), message))
    for name in _REQUIRED:
        value = item.get(name)
        if value is None:
            errors.append(FieldError(field(index, name), checks.REQUIRED))
        elif not isinstance(value, str) or not value:
            errors.append(FieldError(field(index, name), "must be a non-empty string"))
    for name in _OPTIONAL_STRINGS:
        if name in item and not isinstance(item[name], str):
            errors.append(FieldError(field(index, name), checks.NOT_A_STRING))
    if isinstance(item.get("time"), str) and not is_timestamp(item["time"]):
        errors.append(FieldError(field(index, "time"), "must be an RFC 3339 timestamp"))
    _check_extensions(item, index, field, errors)


def is_timestamp(text: str) -> bool:
    """RFC 3339 in form (``2018-04-05T17:31:00Z``) and a real date and time (no 25:00)."""
    if _RFC3339.fullmatch(text) is None:
        return False
    try:
        datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_extensions(
    item: dict[str, Any], index: int, field: Fields, errors: list[FieldError]
) -> None:
    if item.keys() >= _DATA:
        errors.append(FieldError(field(index, "data_base64"), "cannot be sent with data"))
    if "data_base64" in item and not isinstance(item["data_base64"], str):
        errors.append(FieldError(field(index, "data_base64"), checks.NOT_A_STRING))
    for name, value in item.items():
        if name in _DATA:
            continue
        if _NAME.fullmatch(name) is None:
            errors.append(FieldError(field(index, name), "attribute names are a-z and 0-9 only"))
        elif not isinstance(value, str | int | bool):
            errors.append(FieldError(field(index, name), "must be a string, integer or boolean"))
