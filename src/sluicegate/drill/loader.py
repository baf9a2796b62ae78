"""The drill's HTTP client: N events with client-chosen ids, in batches of B, C requests at once.

Each answer is written to the ledger. What a careful user of the API would do, the loader does:
retry a batch refused for the moment (429, 503, a 5xx, a connection refused while the API
restarts, a timeout) with backoff until it is accepted or the retry budget runs out. Retrying with
the same ids is safe: the ids are the dedupe keys, so a batch that did land the first time is
stored once. A permanent refusal (any other 4xx) is final.
"""

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import orjson

from sluicegate.drill.ledger import Ledger, Outcome

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Errors raised before a byte of the request left: the API cannot have stored anything.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_BACKOFF_INITIAL_S = 0.05
_BACKOFF_MAX_S = 1.0
_RETRY_AFTER_CAP_S = 2.0  # honour Retry-After, but a drill should not idle for long


@dataclass(frozen=True, slots=True)
class LoadPlan:
    api_url: str
    queue: str
    events: int
    batch: int
    concurrency: int
    run_tag: str  # prefix of every event id, unique per run
    request_timeout_s: float = 10.0
    give_up_after_s: float = 60.0  # per batch, from its first attempt
    rate_per_s: float = 0.0  # events per second, open loop like k6's arrival rate; 0: flat out


@dataclass(frozen=True, slots=True)
class LoadSummary:
    seconds: float
    batches: int
    gave_up: int  # batches whose retry budget ran out


def event_id(run_tag: str, number: int) -> str:
    return f"{run_tag}-{number:07d}"


def batches(plan: LoadPlan) -> Iterator[list[str]]:
    for start in range(0, plan.events, plan.batch):
        stop = min(start + plan.batch, plan.events)
        yield [event_id(plan.run_tag, number) for number in range(start, stop)]


def encode_batch(ids: list[str]) -> bytes:
    return orjson.dumps(
        [{"event_id": i, "payload": {"drill": True, "n": int(i.rsplit("-", 1)[1])}} for i in ids]
    )


class _Sender:
    """Sends one batch until it is accepted, refused for good, or out of retries."""

    def __init__(
        self, client: httpx.AsyncClient, plan: LoadPlan, ledger: Ledger, cancel: threading.Event
    ) -> None:
        self.client = client
        self.plan = plan
        self.ledger = ledger
        self.cancel = cancel
        self.url = f"{plan.api_url.rstrip('/')}/v1/events/{plan.queue}"

    async def send(self, ids: list[str]) -> bool:
        """True once the batch is acknowledged; False when it was given up."""
        content = encode_batch(ids)
        give_up_at = time.monotonic() + self.plan.give_up_after_s
        attempt = 0
        while not self.cancel.is_set():
            outcome, _, wait_s = await self._attempt(ids, content)
            if outcome is Outcome.ACKED:
                return True
            if wait_s is None or time.monotonic() + wait_s > give_up_at:
                return False
            await asyncio.sleep(max(wait_s, _backoff_s(attempt)))
            attempt += 1
        return False

    async def _attempt(self, ids: list[str], content: bytes) -> tuple[Outcome, str, float | None]:
        """One request; returns its outcome, its status and how long to wait before a retry
        (``None``: do not retry)."""
        self.ledger.begin(ids)
        outcome, status = Outcome.UNKNOWN, "error"
        wait_s: float | None = 0.0
        try:
            response = await self.client.post(
                self.url, content=content, headers={"content-type": "application/json"}
            )
            outcome, status, wait_s = _judge(response)
        except NEVER_SENT as error:
            outcome, status = Outcome.REFUSED, type(error).__name__
        except httpx.TransportError as error:  # timeout or reset mid-request: it may have landed
            outcome, status = Outcome.UNKNOWN, type(error).__name__
        finally:
            self.ledger.finish(ids, outcome, status)
        return outcome, status, wait_s


def _judge(response: httpx.Response) -> tuple[Outcome, str, float | None]:
    status = str(response.status_code)
    if response.is_success:
        return Outcome.ACKED, status, None
    if response.status_code in RETRYABLE_STATUS:
        return Outcome.REFUSED, status, _retry_after_s(response)
    return Outcome.REFUSED, status, None


def _retry_after_s(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("retry-after", "0")), _RETRY_AFTER_CAP_S)
    except ValueError:
        return 0.0


def _backoff_s(attempt: int) -> float:
    ceiling = min(_BACKOFF_MAX_S, _BACKOFF_INITIAL_S * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


async def _pace(plan: LoadPlan, started: float, index: int) -> None:
    """Hold batch ``index`` until its slot in the arrival schedule (retries are not paced)."""
    if plan.rate_per_s > 0:
        due = started + index * plan.batch / plan.rate_per_s
        await asyncio.sleep(max(0.0, due - time.monotonic()))


async def load(
    plan: LoadPlan,
    ledger: Ledger,
    on_batch: Callable[[], None] | None = None,
    cancel: threading.Event | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadSummary:
    """Send every batch of ``plan`` with ``plan.concurrency`` requests in flight at most."""
    started = time.monotonic()
    pending = enumerate(batches(plan))  # shared by the workers: each batch goes to one of them
    counts = {"batches": 0, "gave_up": 0}
    limits = httpx.Limits(
        max_connections=plan.concurrency, max_keepalive_connections=plan.concurrency
    )
    async with httpx.AsyncClient(
        timeout=plan.request_timeout_s, limits=limits, transport=transport
    ) as client:
        sender = _Sender(client, plan, ledger, cancel or threading.Event())

        async def worker() -> None:
            for index, ids in pending:
                await _pace(plan, started, index)
                accepted = await sender.send(ids)
                counts["batches"] += 1
                counts["gave_up"] += not accepted
                if on_batch is not None:
                    on_batch()

        await asyncio.gather(*(worker() for _ in range(plan.concurrency)))
    return LoadSummary(
        seconds=time.monotonic() - started, batches=counts["batches"], gave_up=counts["gave_up"]
    )


class LoadThread(threading.Thread):
    """Runs :func:`load` on its own event loop while the main thread drives the faults."""

    def __init__(
        self, plan: LoadPlan, ledger: Ledger, on_batch: Callable[[], None] | None = None
    ) -> None:
        super().__init__(name="drill-load", daemon=True)
        self.plan = plan
        self.ledger = ledger
        self.on_batch = on_batch
        self.cancel = threading.Event()
        self.finished = threading.Event()
        self.summary: LoadSummary | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.summary = asyncio.run(load(self.plan, self.ledger, self.on_batch, self.cancel))
        except BaseException as error:
            self.error = error
        finally:
            self.finished.set()
