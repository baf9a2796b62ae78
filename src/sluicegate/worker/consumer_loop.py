"""A consumer process's life: serve lanes in turn, one lock slot at a time, until told to stop.

A lane is a queue read by one of its destinations (without DESTINATIONS_FILE: one per queue).
One Redis client and one writer per destination for the whole process (opened when first
needed), reused for every queue it serves, so an agent's connections to a store are bounded by
MAX_CONSUMERS however many queues there are.
"""

import os
import time
from dataclasses import dataclass, replace
from functools import partial

import redis

from sluicegate.backoff import Backoff
from sluicegate.destination.work import gathering, read_count
from sluicegate.destination.writers import Writers
from sluicegate.errors import ConsumerCrashedError
from sluicegate.events import now_ms
from sluicegate.logs import get_logger
from sluicegate.process.liveness import process_name
from sluicegate.process.signals import StopWatch
from sluicegate.queue.crash_record import clear, describe, record_crash
from sluicegate.queue.lanes import Lane
from sluicegate.queue.lock import Lock, LockEntry, acquire_slot
from sluicegate.queue.reader import QueueReader
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
        writers: Writers,
        stop: StopWatch,
        identity: LockEntry,
        place: Place,
        consumer_class: type[QueueVisit] = QueueVisit,
        queues: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.writers = writers
        self.registry = writers.registry
        self.stop = stop
        self.identity = identity  # token, host, pid and agent; lane and slot set per visit
        self.place = place
        self.consumer_class = consumer_class
        self.rotation = Rotation(client, settings.queue_poll_freq_s, queues, self.registry)
        self.log = get_logger(component="consumer", pid=os.getpid())
        self._readers: dict[Lane, QueueReader] = {}
        self.metrics = ConsumerMetrics(place.figures_fd)
        self._weights = settings.weights
        # How long a destination whose store is down rests before this consumer tries it again.
        self._rests = {name: Backoff(0.5, 10.0) for name in self.registry.names}

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
        """Visit the next lane, or wait for one; False once idle for a TTL."""
        lane = self.rotation.next_lane()
        if lane is None:
            if time.monotonic() - self._last_served > self.settings.queue_agent_worker_ttl_s:
                self.log.info("consumer-idle-exit")
                return False
            self.stop.wait(max(self.rotation.until_next_listing_s(), 0.01))
            return True
        outcome, served = self.visit(lane)
        if served:
            self._last_served = time.monotonic()
            self._maintain(lane)
        if outcome is not None and lane in self.rotation.crashed:
            self._forgive(lane)
        if outcome is Outcome.GAVE_WAY:
            self.rotation.rest(lane.destination, self._rests[lane.destination].next_delay_s())
        elif served:
            self._rests[lane.destination].reset()
        if outcome in (None, Outcome.DRAINED, Outcome.LOCK_LOST, Outcome.SPARE):
            self.rotation.skip(lane)  # (a spare: back at the next listing, to see if needed)
        elif outcome is Outcome.IDLE:
            self.log.info("consumer-idle-exit", queue=lane.queue, destination=lane.destination)
            return False
        return True

    def visit(self, lane: Lane) -> tuple[Outcome | None, int]:
        """Serve ``lane`` for a fair share under one of its lock slots; None when all are held."""
        queue = lane.queue
        entry = replace(
            self.identity, queue=queue, destination=lane.destination, started_at_ms=now_ms()
        )
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
                raise self._crashed(lane, error) from error
            finally:
                _release_quietly(lock)
        finally:
            self.place.hold(None)

    def _serve_holding(self, lock: Lock) -> tuple[Outcome, int]:
        lane = lock.entry.lane
        metrics = self.metrics.of(lane.destination)
        consumer = self.consumer_class(
            self._settings_of(lane.destination),
            self._reader(lane),
            self.writers[lane.destination],
            lock,
            self.stop,
            self.place.board,
            metrics,
        )
        share = self.settings.queue_share_batches * self._weights.get(lane.queue, 1)
        metrics.visit_started(lane.queue)
        outcome = Outcome.STOPPED
        try:
            rotation = self.rotation
            stay = Stay(
                share,
                partial(rotation.others_waiting, lane),
                partial(rotation.other_destinations_waiting, lane),
            )
            outcome = consumer.run(stay)
        finally:
            metrics.exited(lane.queue, outcome.value)
        self.log.debug(
            "consumer-visit", lane=str(lane), outcome=outcome.value, batches=consumer.served
        )
        return outcome, consumer.served

    def _maintain(self, lane: Lane) -> None:
        """The destination's upkeep after a visit that wrote to it (a Delta table's compaction,
        when due); a store that is away now is tried again after a later visit."""
        if self.stop.check():
            return
        try:
            done = self.writers.maintain(lane.destination)
        except TRANSIENT as error:
            self.log.warning("destination-upkeep-failed", lane=str(lane), error=str(error))
            return
        if done:
            self.log.info("destination-upkeep", lane=str(lane), done=done)

    def _settings_of(self, destination: str) -> Settings:
        """The settings a visit for ``destination`` runs with: its own read size."""
        count = read_count(self.registry.named(destination), self.settings)
        if count == self.settings.queue_batch_size:
            return self.settings
        return self.settings.model_copy(update={"queue_batch_size": count})

    def _crashed(self, lane: Lane, error: Exception) -> ConsumerCrashedError:
        """Log it once (its traceback once a minute) and make the lane wait before a retry."""
        text = describe(error)
        settings = self.settings
        where = {"queue": lane.queue, "destination": lane.destination}
        try:
            crash = record_crash(
                self.client,
                lane,
                os.getpid(),
                text,
                Backoff(settings.crash_backoff_initial_s, settings.crash_backoff_max_s),
            )
        except Exception:  # Redis away: the traceback must not be lost
            self.log.error("consumer-crashed", **where, error=text, exc_info=error)
            return ConsumerCrashedError(str(lane))
        trace = {"exc_info": error} if crash.log_traceback else {}
        self.log.error(
            "consumer-crash-looping",
            **where,
            attempt=crash.attempt,
            retry_in_s=round(crash.retry_in_s, 1),
            error=text,
            **trace,
        )
        return ConsumerCrashedError(str(lane))

    def _forgive(self, lane: Lane) -> None:
        """A visit ended normally: the lane's crash loop is over."""
        try:
            clear(self.client, lane)
        except TRANSIENT:
            return
        self.rotation.crashed.discard(lane)
        self.log.info("crash-loop-over", queue=lane.queue, destination=lane.destination)

    def _reader(self, lane: Lane) -> QueueReader:
        reader = self._readers.get(lane)
        if reader is None:
            destinations = self.registry.for_queue(lane.queue)
            starts = [(d.group, "$" if d.start == "now" else "0") for d in destinations]
            destination = self.registry.named(lane.destination)
            reader = QueueReader(
                self.client,
                lane.queue,
                process_name(),
                lane.destination,
                starts,
                gathering(destination),
            )
            reader.ensure_groups()
            reader.learn_entry_size()
            self._readers[lane] = reader
        return reader


def _release_quietly(lock: Lock) -> bool:
    try:
        return lock.release()
    except Exception:
        return False
