"""The drill's HTTP client: N events with client-chosen ids, in batches of B, C requests at once.

Every batch goes through ``sluicegate.client`` (one code path for "how to post without losing"):
the same ids on every retry, retries of 429, 5xx answers and connection errors with backoff and
``Retry-After`` until ``give_up_after_s``. Each attempt and its answer are written to the ledger
(the client's observer), so the checks know which ids were acknowledged, refused or unknown.
"""

import asyncio
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import orjson

from sluicegate.client import AsyncClient, ClientOptions, Outcome, PendingEvent
from sluicegate.drill.ledger import Ledger
from sluicegate.drill.ledger import Outcome as LedgerOutcome

_RETRY_AFTER_CAP_S = 2.0  # honour Retry-After, but a drill should not idle for long
_LEDGER_OUTCOMES = {
    Outcome.ACCEPTED: LedgerOutcome.ACKED,
    Outcome.REFUSED: LedgerOutcome.REFUSED,
    Outcome.UNKNOWN: LedgerOutcome.UNKNOWN,
}


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
    queues: int = 1  # spread the batches over queues `queue-0` … (1: `queue` itself, alone)
    seed: int = 1  # which batch goes to which queue


@dataclass(frozen=True, slots=True)
class Spread:
    """Which queue each batch goes to, deterministic by seed: the first batches visit every
    queue once in a shuffled order (each queue gets events), the rest go to queues drawn at
    random (some queues get more than others, as tenants do)."""

    names: tuple[str, ...]
    batch: int
    of_batch: tuple[int, ...]  # the queue (an index into names) of each batch

    @classmethod
    def of(cls, plan: LoadPlan) -> "Spread":
        if plan.queues == 1:
            return cls((plan.queue,), plan.batch, (0,) * math.ceil(plan.events / plan.batch))
        names = tuple(f"{plan.queue}-{index}" for index in range(plan.queues))
        rng = random.Random(plan.seed)
        first = rng.sample(range(plan.queues), plan.queues)
        total = math.ceil(plan.events / plan.batch)
        rest = [rng.randrange(plan.queues) for _ in range(total - len(first))]
        return cls(names, plan.batch, tuple([*first, *rest][:total]))

    def queue_of_batch(self, index: int) -> str:
        return self.names[self.of_batch[index]]

    def queue_of(self, event_id: str) -> str | None:
        """The queue an id of this run was sent to; None for an id this run never made."""
        try:
            index = int(event_id.rsplit("-", 1)[1]) // self.batch
        except (IndexError, ValueError):
            return None
        return self.queue_of_batch(index) if 0 <= index < len(self.of_batch) else None


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


def payload(event_id: str) -> dict[str, object]:
    return {"drill": True, "n": int(event_id.rsplit("-", 1)[1])}


def encode_batch(ids: list[str]) -> bytes:
    """The body the client sends for ``ids`` (a JSON array of envelopes)."""
    return orjson.dumps([{"event_id": i, "payload": payload(i)} for i in ids])


class LedgerObserver:
    """The client's observer: every attempt and its outcome, in the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def attempt_started(self, ids: list[str]) -> None:
        self.ledger.begin(ids)

    def attempt_ended(self, ids: list[str], outcome: Outcome, status: str) -> None:
        self.ledger.finish(ids, _LEDGER_OUTCOMES[outcome], status)


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
    spread = Spread.of(plan)
    counts = {"batches": 0, "gave_up": 0}
    stop = (cancel or threading.Event()).is_set
    options = ClientOptions(
        batch_size=plan.batch,
        deadline_s=plan.give_up_after_s,
        timeout_s=plan.request_timeout_s,
        max_connections=plan.concurrency,
        retry_after_cap_s=_RETRY_AFTER_CAP_S,
    )
    client = AsyncClient(
        plan.api_url, options, observer=LedgerObserver(ledger), transport=transport
    )
    async with client:

        async def worker() -> None:
            for index, ids in pending:
                await _pace(plan, started, index)
                events = [PendingEvent(event_id, payload(event_id)) for event_id in ids]
                result = await client.send(spread.queue_of_batch(index), events, should_stop=stop)
                counts["batches"] += 1
                counts["gave_up"] += not result.accepted
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
