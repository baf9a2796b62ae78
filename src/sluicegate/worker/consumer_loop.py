"""A consumer process's life: serve queues in turn, one lock slot at a time, until told to stop.

One Redis client and one database connection for the whole process, reused for every queue it
serves, so an agent's connections are bounded by MAX_CONSUMERS however many queues there are.
"""

import os
import time
from dataclasses import dataclass, replace
from functools import partial

import redis

from sluicegate.backoff import Backoff
from sluicegate.errors import ConsumerCrashedError
from sluicegate.events import now_ms
from sluicegate.logs import get_logger
from sluicegate.process.liveness import process_name
from sluicegate.process.signals import StopWatch
from sluicegate.queue.crash_record import clear, describe, record_crash
from sluicegate.queue.lock import Lock, LockEntry, acquire_slot
from sluicegate.queue.reader import QueueReader, ensure_group
from sluicegate.repository import Repository
from sluicegate.settings import Settings
from sluicegate.worker.board import Board
from sluicegate.worker.metrics import ConsumerMetrics
from sluicegate.worker.retries import TRANSIENT, event_name
from sluicegate.worker.rotation import Rotation
from sluicegate.worker.visit import Outcome, QueueVisit, Stay


@dataclass
class Place:
    """Where the process stands with its agent: its row on the shared board (None: no agent)."""

    board: Board | None = None
    row: int = 0
    figures_fd: int | None = None  # the pipe to the agent's metrics (worker/metrics.py)

    def hold(self, value: str | None) -> None:
        if self.board is not None:
            self.board.hold(self.row, value)


class ConsumerLoop:
    def __init__(
        self,
        settings: Settings,
        client: "redis.Redis",
        repository: Repository,
        stop: StopWatch,
        identity: LockEntry,
        place: Place,
        consumer_class: type[QueueVisit] = QueueVisit,
        queues: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.repository = repository
        self.stop = stop
        self.identity = identity  # token, host, pid and agent; queue and slot set per visit
        self.place = place
        self.consumer_class = consumer_class
        self.rotation = Rotation(client, settings.queue_poll_freq_s, queues)
        self.log = get_logger(component="consumer", pid=os.getpid())
        self._readers: dict[str, QueueReader] = {}
        self.metrics = ConsumerMetrics(place.figures_fd)
        self._weights = settings.weights

    def run(self) -> None:
        """Serve until a stop, the agent's death, or a TTL without anything to do."""
        self.log.info("consumer-started", consumer=process_name())
        self._last_served = time.monotonic()
        backoff = Backoff()
        while not self.stop.check():
            try:
                if not self._step():
                    return
                backoff.reset()
            except TRANSIENT as error:  # Redis away or full between visits: nothing held, wait
                delay_s = backoff.next_delay_s()
                self.log.warning(event_name(error), error=str(error), retry_in_s=round(delay_s, 3))
                self.stop.wait(delay_s)

    def _step(self) -> bool:
        """Visit the next queue, or wait for one; False once idle for a TTL."""
        queue = self.rotation.next_queue()
        if queue is None:
            if time.monotonic() - self._last_served > self.settings.queue_agent_worker_ttl_s:
                self.log.info("consumer-idle-exit")
                return False
            self.stop.wait(max(self.rotation.until_next_listing_s(), 0.01))
            return True
        outcome, served = self.visit(queue)
        if served:
            self._last_served = time.monotonic()
        if outcome is not None and queue in self.rotation.crashed:
            self._forgive(queue)
        if outcome in (None, Outcome.DRAINED, Outcome.LOCK_LOST):
            self.rotation.skip(queue)
        elif outcome is Outcome.IDLE:
            self.log.info("consumer-idle-exit", queue=queue)
            return False
        return True

    def visit(self, queue: str) -> tuple[Outcome | None, int]:
        """Serve ``queue`` for a fair share under one of its lock slots; None when all are held."""
        entry = replace(self.identity, queue=queue, started_at_ms=now_ms())
        self.place.hold(entry.encode())  # before the SET: the agent can always clean up after us
        try:
            lock = acquire_slot(
                self.client,
                entry,
                self.settings.queue_consumers,
                self.settings.queue_agent_worker_ttl_s,
            )
            if lock is None:
                return None, 0
            try:
                return self._serve_holding(lock)
            except TRANSIENT:
                raise
            except Exception as error:  # recorded before the lock goes: nobody retries at once
                raise self._crashed(queue, error) from error
            finally:
                _release_quietly(lock)
        finally:
            self.place.hold(None)

    def _serve_holding(self, lock: Lock) -> tuple[Outcome, int]:
        queue = lock.entry.queue
        consumer = self.consumer_class(
            self.settings,
            self._reader(queue),
            self.repository,
            lock,
            self.stop,
            self.place.board,
            self.metrics,
        )
        share = self.settings.queue_share_batches * self._weights.get(queue, 1)
        self.metrics.visit_started(queue)
        outcome = Outcome.STOPPED
        try:
            outcome = consumer.run(Stay(share, partial(self.rotation.others_waiting, queue)))
        finally:
            self.metrics.exited(queue, outcome.value)
        self.log.debug(
            "consumer-visit", queue=queue, outcome=outcome.value, batches=consumer.served
        )
        return outcome, consumer.served

    def _crashed(self, queue: str, error: Exception) -> ConsumerCrashedError:
        """Log it once (its traceback once a minute) and make the queue wait before a retry."""
        text = describe(error)
        settings = self.settings
        try:
            crash = record_crash(
                self.client,
                queue,
                os.getpid(),
                text,
                Backoff(settings.crash_backoff_initial_s, settings.crash_backoff_max_s),
            )
        except Exception:  # Redis away: the traceback must not be lost
            self.log.error("consumer-crashed", queue=queue, error=text, exc_info=error)
            return ConsumerCrashedError(queue)
        trace = {"exc_info": error} if crash.log_traceback else {}
        self.log.error(
            "consumer-crash-looping",
            queue=queue,
            attempt=crash.attempt,
            retry_in_s=round(crash.retry_in_s, 1),
            error=text,
            **trace,
        )
        return ConsumerCrashedError(queue)

    def _forgive(self, queue: str) -> None:
        """A visit ended normally: the queue's crash loop is over."""
        try:
            clear(self.client, queue)
        except TRANSIENT:
            return
        self.rotation.crashed.discard(queue)
        self.log.info("crash-loop-over", queue=queue)

    def _reader(self, queue: str) -> QueueReader:
        reader = self._readers.get(queue)
        if reader is None:
            ensure_group(self.client, queue)
            reader = self._readers[queue] = QueueReader(self.client, queue, process_name())
        return reader


def _release_quietly(lock: Lock) -> bool:
    try:
        return lock.release()
    except Exception:
        return False
