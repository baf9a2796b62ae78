"""The OpenAPI operations of the ingest routes, written by hand: they are plain Starlette endpoints
(the hot path), so FastAPI cannot infer them. Every rule here is one the adapters enforce, no more
and no less: schemathesis (tests/api/openapi/test_openapi_fuzz.py) holds the two together.
"""

from typing import Any

from sluicegate.api.ingest.formats import cloudevents, ndjson
from sluicegate.api.ingest.rules import EVENT_ID_MAX_CHARS, EVENT_ID_PATTERN, QUEUE_NAME_REGEX

REF = "#/components/schemas/{model}"
_EVENT_REF = {"$ref": REF.format(model="EventIn")}
_CLOUDEVENT_REF = {"$ref": REF.format(model="CloudEvent")}

CLOUDEVENT_SCHEMA: dict[str, Any] = {
    "title": "CloudEvent",
    "description": "A CloudEvent 1.0 in the JSON event format. Stored whole; the event id is "
    "derived from (source, id).",
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": {"type": "string", "minLength": 1},
        "source": {"type": "string", "minLength": 1},
        "type": {"type": "string", "minLength": 1},
        "datacontenttype": {"type": "string"},
        "dataschema": {"type": "string"},
        "subject": {"type": "string"},
        "time": {"type": "string", "format": "date-time"},
        "data": {},
        "data_base64": {"type": "string"},
    },
    "patternProperties": {"^(?!data$)[a-z0-9]+$": {"type": ["string", "integer", "boolean"]}},
    "additionalProperties": False,
}


def _queue_parameter(description: str) -> dict[str, Any]:
    return {
        "name": "queue",
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": QUEUE_NAME_REGEX, "title": "Queue"},
    }


def _idempotency_key() -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "The event_id of a single event that has none in its body.",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": EVENT_ID_MAX_CHARS,
            "pattern": EVENT_ID_PATTERN,
        },
    }


def events_operation(max_events: int, responses: dict[int | str, Any]) -> dict[str, Any]:
    batch = {"type": "array", "items": _EVENT_REF, "minItems": 1, "maxItems": max_events}
    batch["description"] = "A batch: every event is accepted, or none is."
    return {
        "summary": "Accept one event or a batch (all-or-nothing)",
        "description": "Answers 202 only once Redis holds every event as durably as the "
        "server's durability mode allows (see `/readyz`). Also reads NDJSON (one event per "
        "line) and CloudEvents 1.0 in structured, batched and binary mode (`ce-*` headers, the "
        "body is the data). Bodies may be compressed: `Content-Encoding: gzip`, `deflate` or "
        "`zstd`. See docs/api.md.",
        "operationId": "post_events",
        "parameters": [
            _queue_parameter("The queue (one Redis stream); created on first use."),
            _idempotency_key(),
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": [_EVENT_REF, batch]}},
                ndjson.MEDIA_TYPE: {
                    "schema": {
                        "type": "string",
                        "description": "One event object (as in application/json) per line.",
                    }
                },
                cloudevents.STRUCTURED: {"schema": _CLOUDEVENT_REF},
                cloudevents.BATCH: {
                    "schema": {"type": "array", "items": _CLOUDEVENT_REF, "maxItems": max_events}
                },
            },
        },
        "responses": {202: _accepted(), **responses},
    }


def webhooks_operation(responses: dict[int | str, Any]) -> dict[str, Any]:
    return {
        "summary": "Accept a webhook from a third party (signature checked)",
        "description": "For queues named in `WEBHOOKS_FILE` only (404 otherwise). Any body is "
        "stored: JSON as JSON, anything else as text or base64 with its content type. The "
        "signature (`github` or `standard-webhooks`) is checked on the raw bytes; the event id "
        "comes from `webhook-id`, `Idempotency-Key` or `X-GitHub-Delivery`. See docs/api.md.",
        "operationId": "post_webhook",
        "parameters": [_queue_parameter("The webhook's name in WEBHOOKS_FILE, also its queue.")],
        "requestBody": {"required": True, "content": {"*/*": {"schema": {}}}},
        "responses": {202: _accepted(), **responses},
    }


def _accepted() -> dict[str, Any]:
    return {
        "description": "Accepted: durably queued",
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Accepted")}}},
    }
