"""RFC 9457 problem details: every error the API returns has this one shape.

Handlers here turn our own ``ProblemError``, Starlette's HTTP errors (404, 405) and FastAPI's
request validation errors into ``application/problem+json``, so a client parses one format.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from sluicegate.api.ingest.rules import EVENT_ID_MAX_CHARS, EVENT_ID_PATTERN, QUEUE_NAME_REGEX
from sluicegate.errors import PROBLEM_TYPE_PREFIX
from sluicegate.logs import get_logger

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = PROBLEM_TYPE_PREFIX
_LOCATION_PARTS = frozenset({"body", "path", "query", "header", "cookie"})
_PATTERN_MESSAGES = {
    EVENT_ID_PATTERN: f"must be 1 to {EVENT_ID_MAX_CHARS} characters, "
    "none of them whitespace or control characters",
    QUEUE_NAME_REGEX: "must be 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter or digit",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One thing wrong with one field, named by its path in the request (``[3].payload``)."""

    field: str
    message: str

    def as_json(self) -> dict[str, object]:
        """Its entry in a problem's ``errors``."""
        return {"field": self.field, "message": self.message}


UNAVAILABLE_RETRY_AFTER_S = 1


class ProblemError(Exception):
    """Raised anywhere while handling a request; the handler renders it as problem+json."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        retry_after_s: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = tuple(errors)
        self.retry_after_s = retry_after_s
        self.headers = dict(headers or {})


def unavailable(detail: str) -> ProblemError:
    """503 with ``Retry-After``: Redis unreachable, or the API draining."""
    return ProblemError(503, "unavailable", detail, retry_after_s=UNAVAILABLE_RETRY_AFTER_S)


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``about:blank`` when the status code says it all, else our own problem type."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + slug if slug else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [error.as_json() for error in errors]
    return Response(
        orjson.dumps(body), status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def field_path(loc: Iterable[int | str]) -> str:
    """``(3, "payload")`` -> ``[3].payload``; drops FastAPI's leading ``body``/``path``/..."""
    parts = list(loc)
    if parts and parts[0] in _LOCATION_PARTS:
        parts = parts[1:]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(body)"


LocFormatter = Callable[[Sequence[int | str]], str]


def validation_errors(
    items: Iterable[Mapping[str, Any]], loc_of: LocFormatter = field_path
) -> list[FieldError]:
    """Pydantic's errors as FieldErrors, with a plain-words message for the id pattern."""
    found = []
    for item in items:
        message = item["msg"]
        if item["type"] == "string_pattern_mismatch":
            message = _PATTERN_MESSAGES.get(item["ctx"]["pattern"], message)
        found.append(FieldError(loc_of(item["loc"]), message))
    return found


def describe(errors: Sequence[FieldError]) -> str:
    """A one-line detail that names every field, for clients that only print ``detail``."""
    return "; ".join(f"{e.field}: {e.message}" for e in errors)


def render(exc: ProblemError) -> Response:
    headers = dict(exc.headers)
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    return problem_response(
        exc.status, exc.detail, slug=exc.slug, errors=exc.errors, headers=headers
    )


def crash_response(path: str, exc: Exception) -> Response:
    get_logger().error("api-unhandled-error", path=path, exc_info=exc)
    return problem_response(500, "an unexpected error occurred; it has been logged")


async def _on_problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return render(exc)


async def _on_http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _on_validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    return problem_response(422, describe(errors), slug="invalid-request", errors=errors)


async def _on_crash(request: Request, exc: Exception) -> Response:
    return crash_response(request.url.path, exc)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(Exception, _on_crash)
