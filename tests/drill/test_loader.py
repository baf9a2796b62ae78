"""The loader against a scripted transport: what each answer means in the ledger, and retries."""

import asyncio
import threading
import time

import httpx
import orjson
import pytest

from sluicegate.drill.ledger import Ledger, LedgerView
from sluicegate.drill.loader import (
    LoadPlan,
    LoadThread,
    Spread,
    batches,
    encode_batch,
    event_id,
    load,
)


def plan(**changes) -> LoadPlan:
    base = dict(
        api_url="http://api.test",
        queue="q",
        events=10,
        batch=3,
        concurrency=2,
        run_tag="t",
        request_timeout_s=1.0,
        give_up_after_s=2.0,
    )
    return LoadPlan(**{**base, **changes})


def run(load_plan: LoadPlan, handler, ledger: Ledger | None = None) -> tuple[Ledger, object]:
    ledger = ledger or Ledger()
    summary = asyncio.run(load(load_plan, ledger, transport=httpx.MockTransport(handler)))
    return ledger, summary


def ids_of(request: httpx.Request) -> list[str]:
    return [event["event_id"] for event in orjson.loads(request.content)]


def test_batches_cover_every_id_once_in_order():
    chunks = list(batches(plan(events=7, batch=3)))
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    assert [i for chunk in chunks for i in chunk] == [event_id("t", n) for n in range(7)]


def test_a_batch_is_a_json_array_of_event_id_and_payload():
    body = orjson.loads(encode_batch(["t-0000001"]))
    assert body == [{"event_id": "t-0000001", "payload": {"drill": True, "n": 1}}]


def test_accepted_batches_are_acknowledged_and_posted_to_the_queue():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/events/q"
        assert request.headers["content-type"] == "application/json"
        seen.extend(ids_of(request))
        return httpx.Response(202, json={"accepted": len(ids_of(request))})

    ledger, summary = run(plan(), handler)
    assert sorted(seen) == [event_id("t", n) for n in range(10)]
    assert ledger.acked_count() == 10
    assert summary.batches == 4
    assert summary.gave_up == 0


def test_a_503_is_retried_until_accepted():
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            return httpx.Response(503, headers={"retry-after": "0"})
        return httpx.Response(202)

    ledger, _ = run(plan(events=3, concurrency=1), handler)
    assert ledger.view().acked == {event_id("t", n) for n in range(3)}
    assert ledger.statuses == {"503": 2, "202": 1}


def test_a_permanent_refusal_is_final_and_refused():
    ledger, summary = run(plan(events=3), lambda request: httpx.Response(422))
    assert ledger.view().refused == {event_id("t", n) for n in range(3)}
    assert summary.gave_up == 1
    assert ledger.requests == 1


def test_a_timeout_is_unknown_then_retried():
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(202)

    ledger, _ = run(plan(events=2, concurrency=1), handler)
    assert ledger.view().acked == {"t-0000000", "t-0000001"}
    assert ledger.statuses == {"ReadTimeout": 1, "202": 1}


def test_a_batch_that_only_times_out_ends_unknown():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    ledger, summary = run(plan(events=2, concurrency=1, give_up_after_s=0.3), handler)
    assert ledger.view().unknown == {"t-0000000", "t-0000001"}
    assert summary.gave_up == 1


def test_a_refused_connection_never_sent_anything_so_it_is_refused():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    ledger, _ = run(plan(events=2, concurrency=1, give_up_after_s=0.3), handler)
    assert ledger.view().refused == {"t-0000000", "t-0000001"}


def test_concurrency_is_bounded():
    state = {"now": 0, "peak": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return httpx.Response(202)

    run(plan(events=40, batch=2, concurrency=3), handler)
    assert state["peak"] == 3


def test_the_thread_runs_the_load_and_reports_progress():
    ticks: list[int] = []
    thread = LoadThread(
        plan(api_url="http://127.0.0.1:9", events=1, give_up_after_s=0.2),
        Ledger(),
        on_batch=lambda: ticks.append(1),
    )
    thread.start()
    assert thread.finished.wait(10)
    thread.join()
    assert thread.error is None
    assert thread.summary is not None
    assert thread.summary.gave_up == 1
    assert ticks == [1]


@pytest.mark.parametrize("status", [429, 500, 502, 504])
def test_other_transient_answers_are_retried(status):
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(status if calls["n"] == 1 else 202, headers={"retry-after": "0"})

    ledger, _ = run(plan(events=1, concurrency=1), handler)
    assert ledger.acked_count() == 1


def test_cancel_stops_retrying():
    cancel = threading.Event()
    cancel.set()
    ledger = Ledger()
    summary = asyncio.run(
        load(
            plan(events=3),
            ledger,
            cancel=cancel,
            transport=httpx.MockTransport(lambda r: httpx.Response(202)),
        )
    )
    assert summary.gave_up == 1
    assert ledger.requests == 0


def test_a_rate_paces_the_batches():
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        return httpx.Response(202)

    started = time.monotonic()
    run(plan(events=10, batch=2, concurrency=4, rate_per_s=40.0), handler)
    assert len(times) == 5
    # 5 batches of 2 at 40 events/s: batch k is due 0.05 k s after the run's start. Counted from
    # the start, not from the first batch, which a busy machine may send late (the rest keep
    # their due times, as an open-loop arrival rate does).
    assert times[-1] - started >= 0.2


def test_several_queues_each_get_batches_deterministically_by_seed():
    spread = Spread.of(plan(events=40, batch=2, queues=5, seed=7))
    assert spread.names == tuple(f"q-{n}" for n in range(5))
    assert len(spread.of_batch) == 20
    assert set(spread.of_batch[:5]) == set(range(5))  # every queue gets a batch first
    assert spread == Spread.of(plan(events=40, batch=2, queues=5, seed=7))
    assert spread != Spread.of(plan(events=40, batch=2, queues=5, seed=8))
    assert spread.queue_of(event_id("t", 3)) == spread.queue_of_batch(1)
    assert spread.queue_of("someone-else") is None
    assert spread.queue_of(event_id("t", 40)) is None


def test_one_queue_is_the_queue_itself():
    spread = Spread.of(plan())
    assert spread.names == ("q",)
    assert {spread.queue_of(event_id("t", n)) for n in range(10)} == {"q"}


def test_each_batch_is_posted_to_its_queue():
    posted: dict[str, set[str]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        queue = request.url.path.rsplit("/", 1)[1]
        posted.setdefault(queue, set()).update(ids_of(request))
        return httpx.Response(202, json={"ids": ids_of(request)})

    load_plan = plan(events=12, batch=2, queues=3, seed=1)
    ledger, _ = run(load_plan, handler)
    spread = Spread.of(load_plan)
    assert set(posted) == set(spread.names)
    assert all(spread.queue_of(i) == queue for queue, ids in posted.items() for i in ids)
    assert ledger.view().by_queue(spread.queue_of) == {
        queue: LedgerView(frozenset(ids), frozenset(), frozenset()) for queue, ids in posted.items()
    }
