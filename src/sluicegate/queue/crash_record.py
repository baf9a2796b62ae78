"""A lane's crash record in Redis: its consumers' last error and when to try the lane again.

One small hash per lane, a queue and one of its destinations (``keys.crash_key``), so that a
destination whose writes kill its consumers never holds back the queue's other destinations; the
functions take lanes, or queue names for their default destination's lane. A consumer whose
visit of a lane dies with an exception writes it *before* it releases the lane's lock: the
error, the attempt (crashes in a row), and the retry time, ``CRASH_BACKOFF_INITIAL`` doubling to
``CRASH_BACKOFF_MAX``, jittered. Until then, consumers leave the lane out of their rotation and
the agent leaves it out of the consumers it wants, so a lane whose consumer always dies costs a
few forks a minute, not a storm. A visit of the lane that ends normally deletes the record.
``sluicegate status`` reads it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import redis

from sluicegate.backoff import Backoff, jittered_delay_s
from sluicegate.events import now_ms
from sluicegate.queue import keys
from sluicegate.queue.lanes import Lane

_ERROR, _PID, _ATTEMPT, _RETRY_AT = "error", "pid", "attempt", "retry_at_ms"
_TRACED_ERROR, _TRACED_AT = "traced_error", "traced_at_ms"
TRACEBACK_PERIOD_MS = 60_000  # a traceback at most once per distinct error and minute
_KEEP_AFTER_RETRY_S = 600  # a record nobody retries (no agent left) goes away by itself


@dataclass(frozen=True, slots=True)
class CrashRecord:
    queue: str
    error: str  # "FileExistsError: [Errno 17] File exists: '/srv/db'"
    attempt: int
    retry_at_ms: int
    destination: str = keys.DEFAULT_DESTINATION


LaneOrQueue = TypeVar("LaneOrQueue", Lane, str)


def _key(lane: Lane | str) -> str:
    if isinstance(lane, str):
        return keys.crash_key(lane)
    return keys.crash_key(lane.queue, lane.destination)


@dataclass(frozen=True, slots=True)
class Crash:
    """What a crashing consumer learns from recording its crash."""

    attempt: int
    retry_in_s: float
    log_traceback: bool


def describe(error: BaseException) -> str:
    """One line: the exception's type and message."""
    return f"{type(error).__name__}: {error}".splitlines()[0][:300]


def record_crash(
    client: "redis.Redis", queue: Lane | str, pid: int, error: str, backoff: Backoff
) -> Crash:
    """Count the crash and push the lane's retry out; ``backoff`` holds the initial and maximum."""
    key = _key(queue)
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(key, _ATTEMPT, 1)
    pipe.hmget(key, [_TRACED_ERROR, _TRACED_AT])
    attempt, (traced_error, traced_at) = pipe.execute()
    delay_s = jittered_delay_s(attempt - 1, backoff.initial_s, backoff.maximum_s)
    now = now_ms()
    log_traceback = _text(traced_error) != error or now - int(traced_at or 0) >= TRACEBACK_PERIOD_MS
    retry_at_ms = now + int(delay_s * 1000)
    pipe.hset(key, mapping={_ERROR: error, _PID: pid, _RETRY_AT: retry_at_ms})
    if log_traceback:
        pipe.hset(key, mapping={_TRACED_ERROR: error, _TRACED_AT: now})
    pipe.expire(key, int(delay_s) + _KEEP_AFTER_RETRY_S)
    pipe.execute()
    return Crash(attempt, delay_s, log_traceback)


def retry_times(client: "redis.Redis", queues: Sequence[LaneOrQueue]) -> dict[LaneOrQueue, int]:
    """The lanes that have a crash record, with the time (ms) they may be tried again."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.hget(_key(queue), _RETRY_AT)
    replies = pipe.execute() if queues else []
    return {queue: int(at) for queue, at in zip(queues, replies, strict=True) if at is not None}


def backing_off(client: "redis.Redis", queues: Sequence[LaneOrQueue]) -> set[LaneOrQueue]:
    """The lanes whose consumers crashed and whose retry time has not come yet."""
    now = now_ms()
    return {queue for queue, at in retry_times(client, queues).items() if at > now}


def clear(client: "redis.Redis", queue: Lane | str) -> None:
    client.delete(_key(queue))


def crash_records(
    client: "redis.Redis", queues: Sequence[LaneOrQueue]
) -> dict[LaneOrQueue, CrashRecord]:
    """Every lane's crash record, for ``status``."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.hmget(_key(queue), [_ERROR, _ATTEMPT, _RETRY_AT])
    replies = pipe.execute() if queues else []
    records = {}
    for queue, (error, attempt, retry_at) in zip(queues, replies, strict=True):
        if error is not None and retry_at is not None:
            lane = queue if isinstance(queue, Lane) else Lane(queue)
            text = str(_text(error))
            record = CrashRecord(lane.queue, text, int(attempt), int(retry_at), lane.destination)
            records[queue] = record
    return records


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
