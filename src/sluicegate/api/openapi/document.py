"""The OpenAPI document: FastAPI's, the ingest operations (``openapi.ingest``), the problem
responses and the models they refer to."""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from sluicegate.api.openapi.ingest import (
    CLOUDEVENT_SCHEMA,
    REF,
    events_operation,
    webhooks_operation,
)
from sluicegate.api.openapi.models import Accepted, EventIn, Problem
from sluicegate.api.problems import PROBLEM_JSON

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}
_INGEST_ERRORS = (400, 401, 403, 413, 415, 422, 429, 503)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for error statuses, all ``application/problem+json``."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
        if status in (429, 503):
            response["headers"] = _RETRY_AFTER
        responses[status] = response
    return responses


def build_openapi(app: FastAPI, max_batch_events: int) -> dict[str, Any]:
    """FastAPI's document, plus the hand-written ingest operations and their models."""
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    _, definitions = models_json_schema(
        [(EventIn, "validation"), (Problem, "serialization"), (Accepted, "serialization")],
        ref_template=REF,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(definitions.get("$defs", {}))
    schemas["CloudEvent"] = CLOUDEVENT_SCHEMA
    errors = problem_responses(*_INGEST_ERRORS)
    document["paths"]["/v1/events/{queue}"] = {"post": events_operation(max_batch_events, errors)}
    webhook_errors = problem_responses(400, 401, 404, 413, 415, 422, 429, 503)
    document["paths"]["/v1/webhooks/{queue}"] = {"post": webhooks_operation(webhook_errors)}
    return document
