"""Every way a request can be refused: a problem+json body naming the problem, nothing written."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis

from sluicegate.api.problems import field_path
from sluicegate.queue import keys

pytestmark = pytest.mark.anyio
QUEUE = "orders"
URL = f"/v1/events/{QUEUE}"
JSON = {"content-type": "application/json"}


def event(index: int = 0, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"e{index}", "payload": {"n": index}, **extra}


async def chunked(total: int) -> AsyncIterator[bytes]:
    """A body without Content-Length, so only counting streamed bytes can catch it."""
    for _ in range(total // 512):
        yield b" " * 512


@dataclass
class Case:
    name: str
    status: int
    says: str  # must appear in detail
    method: str = "POST"
    url: str = URL
    content: Any = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    field: str | None = None  # must be one of errors[].field


CASES = [
    Case("malformed json", 400, "not valid JSON", content=b'{"payload": '),
    Case("NaN is not JSON", 400, "not valid JSON", content=b'{"payload": {"x": NaN}}'),
    Case("lone surrogate", 400, "not valid JSON", content=b'{"payload": {"x": "\\ud800"}}'),
    Case(
        "wrong content type",
        415,
        "text/plain",
        content=b"{}",
        headers={"content-type": "text/plain"},
    ),
    Case("no content type", 415, "no Content-Type", content=b"{}", headers={}),
    Case("content-length over the cap", 413, "4096 bytes", content=b" " * 4097),
    Case("streamed body over the cap", 413, "4096 bytes", content=chunked(8192)),
    Case("batch too long", 413, "6 events; the limit is 5", json=[event(i) for i in range(6)]),
    Case(
        "event too large",
        413,
        "[1].payload",
        json=[event(0), {"payload": {"x": "y" * 300}}],
        field="[1].payload",
    ),
    Case(
        "single event too large",
        413,
        "payload",
        json={"payload": {"x": "y" * 300}},
        field="payload",
    ),
    Case("unknown field", 422, "extra", json=event(0, extra=1), field="extra"),
    Case(
        "unknown field in a batch",
        422,
        "[1].extra",
        json=[event(0), event(1, extra=1)],
        field="[1].extra",
    ),
    Case("missing payload", 422, "payload", json={"event_id": "a"}, field="payload"),
    Case(
        "payload not an object",
        422,
        "[3].payload",
        json=[event(0), event(1), event(2), {"payload": [1, 2]}],
        field="[3].payload",
    ),
    Case(
        "event_id with a space",
        422,
        "event_id",
        json={"event_id": "a b", "payload": {}},
        field="event_id",
    ),
    Case(
        "event_id with a control char",
        422,
        "event_id",
        json={"event_id": "a\u0007", "payload": {}},
        field="event_id",
    ),
    Case("event_id empty", 422, "event_id", json={"event_id": "", "payload": {}}, field="event_id"),
    Case(
        "event_id too long",
        422,
        "event_id",
        json={"event_id": "x" * 201, "payload": {}},
        field="event_id",
    ),
    Case(
        "event_id not a string",
        422,
        "event_id",
        json={"event_id": 7, "payload": {}},
        field="event_id",
    ),
    Case(
        "duplicate ids in a batch",
        422,
        "[0]",
        json=[event(0), event(1), event(0)],
        field="[2].event_id",
    ),
    Case("body neither object nor array", 422, "array", json=42, field="(body)"),
    Case("empty batch", 422, "at least one", json=[], field="(body)"),
    Case(
        "idempotency key on a batch",
        422,
        "own event_id",
        json=[event(0)],
        headers={**JSON, "Idempotency-Key": "k1"},
        field="Idempotency-Key",
    ),
    Case(
        "idempotency key with a space",
        422,
        "Idempotency-Key",
        json={"payload": {}},
        headers={**JSON, "Idempotency-Key": "k 1"},
        field="Idempotency-Key",
    ),
    Case(
        "idempotency key differs from event_id",
        422,
        "differs",
        json=event(0),
        headers={**JSON, "Idempotency-Key": "k1"},
        field="Idempotency-Key",
    ),
    Case("bad queue name", 422, "queue", url="/v1/events/Orders!", json=event(0), field="queue"),
    Case(
        "queue name too long",
        422,
        "queue",
        url="/v1/events/" + "q" * 65,
        json=event(0),
        field="queue",
    ),
    Case("unknown path", 404, "Not Found", url="/v1/nothing", json=event(0)),
    Case("wrong method", 405, "Method Not Allowed", method="PUT"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_refused_with_a_problem_and_nothing_written(
    case: Case, api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    seeded = await api.post(URL, json=event(99))  # so "untouched" means more than "absent"
    assert seeded.status_code == 202
    length_before = redis_client.xlen(keys.stream_key(QUEUE))

    response = await api.request(
        case.method, case.url, content=case.content, json=case.json, headers=case.headers
    )

    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == case.status
    assert problem["title"]
    assert problem["type"].startswith(("urn:sluicegate:problem:", "about:blank"))
    assert case.says in problem["detail"]
    if case.field is not None:
        assert case.field in [error["field"] for error in problem["errors"]]
    assert redis_client.xlen(keys.stream_key(QUEUE)) == length_before


async def test_method_not_allowed_says_what_is(api: httpx.AsyncClient) -> None:
    response = await api.put(URL)
    assert response.headers["allow"] == "POST"
    assert (await api.put(f"{URL}/some-event-id")).status_code == 405


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("body", 3, "payload"), "[3].payload"),
        (("path", "queue"), "queue"),
        ((0, "payload", "a"), "[0].payload.a"),
        (("body",), "(body)"),
    ],
)
def test_field_path(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path
