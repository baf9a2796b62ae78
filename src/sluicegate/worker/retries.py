"""How a consumer rides out transient errors (dramatiq keeps its retries in a module of their own).

``Retrier.retry`` runs an operation until it stops failing transiently: a database that is locked or
away, a Redis restarting or full. Between attempts it waits with capped, jittered backoff; a refused
database connection waits for its destination's backoff instead, shared with every consumer of the
agent through the board, so that a database refusing connections is not hammered by all of them at
once (and a destination that refuses holds back no other destination). While it waits it keeps the
queue's lock alive (a wait may outlast the lock's TTL) and raises ``Stopping`` as soon as a stop is
asked for: the batch stays pending, nothing is lost.
"""

import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import redis
from redis.exceptions import OutOfMemoryError

from sluicegate.backoff import Backoff
from sluicegate.errors import DatabaseRefusedError, TransientStoreError
from sluicegate.events import now_ms
from sluicegate.logs import Logger, Throttle
from sluicegate.process.signals import StopWatch
from sluicegate.queue.backoff_notes import BackoffNote, note_backoff
from sluicegate.queue.client import TRANSIENT_REDIS_ERRORS
from sluicegate.queue.keys import DEFAULT_DESTINATION
from sluicegate.worker.board import Board

T = TypeVar("T")
# A full Redis (above maxmemory) refuses what would grow memory: it empties as consumers ack, so a
# consumer waits it out as it waits out a restart, instead of dying and being forked again.
TRANSIENT = (TransientStoreError, *TRANSIENT_REDIS_ERRORS, OutOfMemoryError)
OUTAGE_LOG_PERIOD_S = 30.0
# How often a wait that may give way asks whether another destination's lane waits: a wait may
# last a destination's whole backoff (up to 10 s), and the other lane's events must not.
LEAVE_CHECK_S = 0.1
BACKING_OFF = "its database refused connections: the destination backs off"


class Stopping(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised out of a retry loop when the consumer was told to stop; the batch stays pending."""


class GiveWay(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised out of a retry loop when the caller would rather do something else than wait (its
    destination is down and another lane waits); the batch stays pending. Its cause: the error."""


class Retrier:
    """The retry loop of one visit: ``heartbeat`` keeps its lock, ``log`` is the visit's logger;
    ``client``, ``agent`` and ``destination`` say where and whose database backoff ``sluicegate
    status`` shows (``destination``: whose backoff on the board a refusal pushes out)."""

    def __init__(
        self,
        heartbeat_interval_s: float,
        stop: StopWatch,
        heartbeat: Callable[[], None],
        log: Logger,
        client: "redis.Redis",
        agent: str,
        board: Board | None = None,
        destination: str = DEFAULT_DESTINATION,
    ) -> None:
        self._interval_s = heartbeat_interval_s
        self._stop = stop
        self._heartbeat = heartbeat
        self._log = log
        self._board = board
        self._client = client
        self._agent = agent
        self._destination = destination
        self._outage_log = Throttle(OUTAGE_LOG_PERIOD_S)

    def retry(
        self, operation: Callable[[], T], give_way: Callable[[Exception], bool] | None = None
    ) -> T:
        """Run ``operation`` until it stops failing transiently; keep the lock alive meanwhile.
        ``give_way``: asked after each failure; True raises ``GiveWay`` instead of waiting."""
        backoff = Backoff()
        while True:
            try:
                return operation()
            except TRANSIENT as error:
                delay_s = self._delay_after(error, backoff)
                self.pause(delay_s, error, None if give_way is None else partial(give_way, error))

    def pause(
        self,
        delay_s: float,
        cause: Exception | None = None,
        leave: Callable[[], bool] | None = None,
    ) -> None:
        """Wait ``delay_s``, heartbeating the lock meanwhile (a wait may outlast the lock's TTL);
        ``Stopping`` as soon as a stop is asked for, ``GiveWay`` as soon as ``leave()`` says so
        (asked every LEAVE_CHECK_S)."""
        deadline = time.monotonic() + delay_s
        step_s = self._interval_s if leave is None else min(self._interval_s, LEAVE_CHECK_S)
        while True:
            if leave is not None and _asks_to_leave(leave):
                raise GiveWay from cause
            remaining_s = deadline - time.monotonic()
            if self._stop.wait(min(max(remaining_s, 0.0), step_s)):
                raise Stopping from cause
            self._keep_lock_through_outage()
            if remaining_s <= step_s:
                return

    def wait_out_shared_backoff(self, give_way: Callable[[], bool] = lambda: False) -> None:
        """Before connecting to the database: wait while the destination's backoff runs, or,
        when ``give_way()`` says another destination waits, leave the lane (``GiveWay``)."""
        assert self._board is not None
        while (remaining_s := self._board.backoff_remaining_s(self._destination)) > 0:
            self.pause(remaining_s, DatabaseRefusedError(BACKING_OFF), give_way)

    def _delay_after(self, error: Exception, backoff: Backoff) -> float:
        """A refused connection waits for the destination's backoff; anything else for our own."""
        refused = isinstance(error, DatabaseRefusedError) and self._board is not None
        if refused and self._board is not None:
            delay_s = self._board.refused(self._destination)
            self._note_backoff(error, delay_s)
        else:
            delay_s = backoff.next_delay_s()
        event = "database-refused" if refused else event_name(error)
        held = self._outage_log.allow(event)
        if held is not None:  # an outage of minutes says so every period, not every retry
            self._log.warning(event, error=str(error), retry_in_s=round(delay_s, 3), held=held)
        return delay_s

    def _note_backoff(self, error: Exception, delay_s: float) -> None:
        """Tell ``sluicegate status`` (any host) that this agent backs off from the destination's
        database."""
        assert self._board is not None
        refusals = self._board.backoff_state(self._destination)[0]
        until_ms = now_ms() + int(delay_s * 1000)
        note = BackoffNote(self._agent, refusals, until_ms, str(error), self._destination)
        try:
            note_backoff(self._client, note)
        except TRANSIENT:
            pass  # only for `status`; the backoff itself is in shared memory

    def _keep_lock_through_outage(self) -> None:
        try:
            self._heartbeat()
        except TRANSIENT:
            pass  # Redis itself is away; the lock's TTL covers short outages


def _asks_to_leave(leave: Callable[[], bool]) -> bool:
    """``leave()``; a Redis away while it looks for other lanes means: stay."""
    try:
        return leave()
    except TRANSIENT:
        return False


def event_name(error: Exception) -> str:
    """The log command of a transient error: a full Redis says so."""
    return "redis-full" if isinstance(error, OutOfMemoryError) else "transient-error"
