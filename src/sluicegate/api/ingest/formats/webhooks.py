"""A third party's webhook as one event: any body kept, with the headers that say what it is.

The stored payload is ``{"webhook": name, "headers": {...}, "body": ...}``: ``body`` is the JSON as
sent when the content type is JSON and the body parses; otherwise the body is kept as ``text``
(UTF-8: form-encoded, plain text, XML) or ``base64``, and its content type is in ``headers``.

The event id is the sender's delivery id, from ``webhook-id`` (Standard Webhooks), else
``Idempotency-Key``, else ``X-GitHub-Delivery``, scoped to the webhook (``wh:<name>#<id>``, see
``ids.scoped_id``) so that two senders' ids never collide; a retried delivery is stored once. With
none of them, a UUIDv7 is minted (a redelivery is then a second event).
"""

import base64
from collections.abc import Mapping
from typing import Any

from sluicegate.api.auth.webhooks_file import Webhook
from sluicegate.api.ingest import jsontext
from sluicegate.api.ingest.formats import checks
from sluicegate.api.ingest.formats.base import Intake, is_json, media_type
from sluicegate.api.ingest.formats.ids import scoped_id
from sluicegate.events import Event, new_event_id, now_ms

ID_HEADERS = ("webhook-id", "idempotency-key", "x-github-delivery")
_KEPT = frozenset(
    {"content-type", "user-agent", "webhook-id", "webhook-timestamp", "idempotency-key"}
)
_KEPT_PREFIXES = ("x-github-", "x-gitlab-event", "x-event-", "x-webhook-")
_SECRET_LIKE = ("signature", "token", "secret")


def event(webhook: Webhook, raw: bytes, intake: Intake) -> Event:
    headers = intake.headers
    payload: dict[str, Any] = {"webhook": webhook.name, "headers": _kept(headers)}
    exact = False
    parsed = _json(raw) if is_json(media_type(headers.get("content-type"))) else None
    if parsed is not None:
        payload["body"], exact = parsed
    else:
        try:
            payload["text"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            payload["base64"] = base64.b64encode(raw).decode("ascii")
    text = jsontext.dumps(payload, exact)
    checks.check_sizes([text], lambda _: "(body)", intake.settings.max_event_bytes)
    return Event(intake.queue, _event_id(webhook, headers), text, now_ms(), document=payload)


def _json(raw: bytes) -> tuple[Any, bool] | None:
    try:
        return jsontext.loads(raw)
    except jsontext.JsonDecodeError:
        return None  # labelled JSON, but is not: kept as text like any other body


def _kept(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers that say what the delivery is; never its signature or a token."""
    return {
        name: value
        for name, value in headers.items()
        if (name in _KEPT or name.startswith(_KEPT_PREFIXES))
        and not any(word in name for word in _SECRET_LIKE)
    }


def _event_id(webhook: Webhook, headers: Mapping[str, str]) -> str:
    for header in ID_HEADERS:
        value = headers.get(header)
        if value is not None:
            checks.check_header_id(value, header)
            return scoped_id("wh", webhook.name, value)
    return new_event_id()
