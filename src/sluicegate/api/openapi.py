"""The OpenAPI document: the real request body (one event or an array) and the problem responses.

The ingest route reads its body itself (to cap its size while streaming), so FastAPI cannot infer
the body schema; it is declared here and its models are added to the components.
"""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from sluicegate.api.models import EventIn, Problem
from sluicegate.api.problems import PROBLEM_JSON

_REF = "#/components/schemas/{model}"
_EVENT_REF = {"$ref": _REF.format(model="EventIn")}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}

EVENTS_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _EVENT_REF,
                        {
                            "type": "array",
                            "items": _EVENT_REF,
                            "minItems": 1,
                            "description": "A batch: every event is accepted, or none is.",
                        },
                    ],
                }
            }
        },
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for error statuses, all ``application/problem+json``."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": _REF.format(model="Problem")}}},
        }
        if status in (429, 503):
            response["headers"] = _RETRY_AFTER
        responses[status] = response
    return responses


def build_openapi(app: FastAPI, max_batch_events: int) -> dict[str, Any]:
    """FastAPI's document, plus our body models and this instance's batch limit."""
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    _, definitions = models_json_schema(
        [(EventIn, "validation"), (Problem, "serialization")], ref_template=_REF
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(definitions.get("$defs", {}))
    body = document["paths"]["/v1/events/{queue}"]["post"]["requestBody"]
    body["content"]["application/json"]["schema"]["oneOf"][1]["maxItems"] = max_batch_events
    return document
