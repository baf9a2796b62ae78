"""What the sync and async clients share: ids, batches, results, and the retry rules.

The rules (docs/client.md): every event gets its id *before* the first attempt and keeps it on
every retry, so a retry of a request that did land is stored once. 2xx: accepted. 429, 503 (and
500, 502, 504: a bug or a proxy), a connection that failed or broke, a timeout: retry after
``max(Retry-After, backoff)`` until the deadline. Any other answer is final: refused.
"""

import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

import httpx
import orjson

from sluicegate.errors import PROBLEM_TYPE_PREFIX, UNCONFIRMED_WRITE
from sluicegate.events import new_event_id

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Raised before a byte of the request left: the server cannot have stored anything.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
BACKOFF_INITIAL_S = 0.05
BACKOFF_MAX_S = 2.0


class Outcome(Enum):
    ACCEPTED = "accepted"  # a 2xx: stored durably, exactly once downstream
    REFUSED = "refused"  # an answer that is not a 2xx, or nothing sent: not stored
    UNKNOWN = "unknown"  # a timeout or a broken connection mid-request: may be stored


class Observer(Protocol):
    """Told about every attempt (the drill's ledger is one)."""

    def attempt_started(self, ids: list[str]) -> None: ...

    def attempt_ended(self, ids: list[str], outcome: Outcome, status: str) -> None: ...


@dataclass(frozen=True, slots=True)
class PendingEvent:
    event_id: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ClientOptions:
    token: str | None = None  # sent as Authorization: Bearer
    batch_size: int = 100  # events per request (at most the server's MAX_BATCH_EVENTS)
    flush_interval_s: float = 0.2  # a buffered event waits at most this long for company
    deadline_s: float = 30.0  # per batch, from its first attempt; then its ids are "unknown"
    timeout_s: float = 10.0  # per request
    max_connections: int = 16
    retry_after_cap_s: float = 60.0  # a longer Retry-After is waited for this long only


def as_pending(
    event: "PendingEvent | Mapping[str, Any]", event_id: str | None = None
) -> PendingEvent:
    """The id is chosen here, once: the caller's (``event_id`` or the event's), else a UUIDv7."""
    if isinstance(event, PendingEvent):
        return event
    if event_id is None and "payload" in event:  # an envelope: {"event_id": ..., "payload": ...}
        return PendingEvent(event.get("event_id") or new_event_id(), event["payload"])
    return PendingEvent(event_id or new_event_id(), event)


class Buffer:
    """Events waiting to be sent, per queue; says when a queue has a full batch."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._queues: dict[str, list[PendingEvent]] = {}

    def add(self, queue: str, event: PendingEvent) -> bool:
        events = self._queues.setdefault(queue, [])
        events.append(event)
        return len(events) >= self.batch_size

    def take(self) -> list[tuple[str, list[PendingEvent]]]:
        taken = [(queue, events) for queue, events in self._queues.items() if events]
        self._queues = {}
        return taken


def encode(events: Iterable[PendingEvent]) -> bytes:
    return orjson.dumps([{"event_id": e.event_id, "payload": e.payload} for e in events])


@dataclass(slots=True)
class Result:
    """What became of the events: only ``accepted`` ids are certainly stored."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # id -> why (the problem's detail)
    unknown: list[str] = field(default_factory=list)  # deadline passed with an unclear last try

    def add(self, other: "Result") -> None:
        self.accepted += other.accepted
        self.refused.update(other.refused)
        self.unknown += other.unknown


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    status: str  # "202", "503", "ConnectError"...
    retry: bool
    wait_s: float = 0.0  # at least this long before the retry (Retry-After)
    detail: str = ""


def judge(response: httpx.Response) -> Verdict:
    status = str(response.status_code)
    if response.is_success:
        return Verdict(Outcome.ACCEPTED, status, retry=False)
    if response.status_code in RETRYABLE_STATUS:
        status = _problem_status(response)
        # A write sent but not confirmed (a WAITAOF timeout, a failover) may be stored: unknown.
        unconfirmed = UNCONFIRMED_WRITE.encode() in response.content
        outcome = Outcome.UNKNOWN if unconfirmed else Outcome.REFUSED
        return Verdict(outcome, status, retry=True, wait_s=retry_after_s(response))
    return Verdict(Outcome.REFUSED, status, retry=False, detail=_detail(response))


def judge_error(error: httpx.TransportError) -> Verdict:
    outcome = Outcome.REFUSED if isinstance(error, NEVER_SENT) else Outcome.UNKNOWN
    return Verdict(outcome, type(error).__name__, retry=True)


def retry_after_s(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0  # an HTTP date: rare from sluicegate; the backoff applies


def backoff_s(attempt: int) -> float:
    """Exponential with full jitter in its upper half, so retries of many clients spread."""
    ceiling = min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


def _problem_status(response: httpx.Response) -> str:
    """``503``, or ``503 queue-store-full`` for a problem type of sluicegate's, so an observer
    tells a full Redis from a lost one; ``, no Retry-After`` when the answer lacks one."""
    status = str(response.status_code)
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        try:
            kind = str(response.json().get("type", ""))
        except (ValueError, AttributeError):
            kind = ""
        if kind.startswith(PROBLEM_TYPE_PREFIX):
            status += " " + kind.removeprefix(PROBLEM_TYPE_PREFIX)
            status += "" if "retry-after" in response.headers else ", no Retry-After"
    return status


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except (ValueError, AttributeError):
        return response.text[:200]


def request_headers(token: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return headers


class Attempts:
    """The retry loop's state for one batch: its deadline, attempts made, the last verdict."""

    def __init__(self, ids: list[str], options: ClientOptions) -> None:
        self.ids = ids
        self.deadline = time.monotonic() + options.deadline_s
        self.retry_after_cap_s = options.retry_after_cap_s
        self.count = 0
        self.last: Verdict | None = None
        self.may_have_landed = False  # a timeout, a reset, or a 5xx that may follow a write

    def next_wait_s(self, verdict: Verdict) -> float | None:
        """How long to sleep before the next attempt; None: stop (final, or past the deadline)."""
        self.last = verdict
        self.may_have_landed |= verdict.outcome is Outcome.UNKNOWN or verdict.status[0] == "5"
        if not verdict.retry:
            return None
        wait_s = max(min(verdict.wait_s, self.retry_after_cap_s), backoff_s(self.count))
        self.count += 1
        return wait_s if time.monotonic() + wait_s < self.deadline else None

    def result(self) -> Result:
        verdict = self.last
        if verdict is not None and verdict.outcome is Outcome.ACCEPTED:
            return Result(accepted=list(self.ids))
        if verdict is not None and not verdict.retry:
            return Result(refused=dict.fromkeys(self.ids, f"{verdict.status}: {verdict.detail}"))
        if self.may_have_landed:  # out of time after an unclear attempt: may be stored
            return Result(unknown=list(self.ids))
        why = f"not accepted before the deadline (last: {verdict.status if verdict else 'none'})"
        return Result(refused=dict.fromkeys(self.ids, why))
