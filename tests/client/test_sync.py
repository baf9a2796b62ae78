"""The blocking client against a scripted server: retries keep ids, batches by size and time."""

import threading

import httpx
import orjson
import pytest

from sluicegate.client import Client, ClientOptions, Outcome
from tests.waiting import wait_for

FAST = ClientOptions(batch_size=2, flush_interval_s=0.05, deadline_s=2.0, timeout_s=1.0)


class Server:
    """Answers each request with the next scripted status (then 202), recording what it got."""

    def __init__(self, *statuses: int | type[Exception]) -> None:
        self.script = list(statuses)
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            answer = self.script.pop(0) if self.script else 202
        if isinstance(answer, type):
            raise answer("scripted", request=request)
        body = {"detail": "no"} if answer >= 400 else {"accepted": 1}
        return httpx.Response(answer, json=body, headers={"retry-after": "0"})

    def ids(self, index: int) -> list[str]:
        return [event["event_id"] for event in orjson.loads(self.requests[index].content)]


def client(server: Server, options: ClientOptions = FAST) -> Client:
    return Client("http://api", options, transport=httpx.MockTransport(server))


@pytest.mark.parametrize(
    "failure", [503, 429, 500, httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
def test_a_transient_failure_is_retried_with_the_same_ids(failure) -> None:
    server = Server(failure, failure)
    with client(server) as sender:
        result = sender.send("q", [{"payload": {"n": 1}}, {"event_id": "mine", "payload": {}}])

    assert len(server.requests) == 3
    assert server.ids(0) == server.ids(1) == server.ids(2)
    assert server.ids(0)[1] == "mine"
    assert result.accepted == server.ids(0)


def test_a_permanent_refusal_is_final() -> None:
    server = Server(422)
    with client(server) as sender:
        result = sender.send("q", [{"event_id": "a", "payload": {}}])
    assert result.refused == {"a": "422: no"}
    assert len(server.requests) == 1


def test_out_of_time_is_unknown_and_the_deadline_holds() -> None:
    server = Server(*[httpx.ReadTimeout] * 1000)
    options = ClientOptions(deadline_s=0.3, timeout_s=0.1)
    with client(server, options) as sender:
        result = sender.send("q", [{"event_id": "a", "payload": {}}])
    assert result.unknown == ["a"]
    assert result.accepted == []


def test_never_sent_until_the_deadline_is_refused() -> None:
    server = Server(*[httpx.ConnectError] * 1000)
    with client(server, ClientOptions(deadline_s=0.3)) as sender:
        result = sender.send("q", [{"event_id": "a", "payload": {}}])
    assert result.refused == {"a": "not accepted before the deadline (last: ConnectError)"}


def test_the_token_is_sent_as_a_bearer() -> None:
    server = Server()
    with client(server, ClientOptions(token="sgt_x")) as sender:
        sender.send("q", [{"payload": {}}])
    assert server.requests[0].headers["authorization"] == "Bearer sgt_x"
    assert server.requests[0].url.path == "/v1/events/q"


def test_add_batches_by_size_then_by_time() -> None:
    server = Server()
    sender = client(server)
    ids = [sender.add("q", {"n": n}) for n in range(3)]  # a full batch of 2 goes at once

    assert [server.ids(0)] == [ids[:2]]
    wait_for(lambda: len(server.requests) == 2, timeout_s=5, message="the time flush")
    assert server.ids(1) == ids[2:]
    sender.close()
    assert sender.results.accepted == ids


def test_the_observer_sees_every_attempt() -> None:
    seen: list[tuple[str, Outcome, str]] = []

    class Recorder:
        def attempt_started(self, ids: list[str]) -> None:
            seen.append(("start", Outcome.UNKNOWN, ""))

        def attempt_ended(self, ids: list[str], outcome: Outcome, status: str) -> None:
            seen.append(("end", outcome, status))

    server = Server(httpx.ConnectError, 503)
    sender = Client("http://api", FAST, observer=Recorder(), transport=httpx.MockTransport(server))
    sender.send("q", [{"payload": {}}])
    ended = [(outcome, status) for kind, outcome, status in seen if kind == "end"]
    assert ended == [
        (Outcome.REFUSED, "ConnectError"),
        (Outcome.REFUSED, "503"),
        (Outcome.ACCEPTED, "202"),
    ]


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"retry-after": "5"}, "503 queue-store-full"), ({}, "503 queue-store-full, no Retry-After")],
)
def test_the_observer_tells_a_full_queue_store_from_other_503s(headers, status) -> None:
    from sluicegate.client.policy import judge

    problem = {"type": "urn:sluicegate:problem:queue-store-full", "status": 503}
    response = httpx.Response(
        503, headers={"content-type": "application/problem+json", **headers}, json=problem
    )
    assert judge(response).status == status
    assert judge(httpx.Response(503)).status == "503"
