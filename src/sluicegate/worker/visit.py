"""The consumer serving one queue for one visit: claim a batch, persist it, only then ack it.

A consumer process serves queues in turn (``worker/consumer_loop.py``). Holding one of the queue's
lock slots, it runs a ``QueueVisit`` until the queue is drained, its fair share of batches is used
while another queue waits, a stop is asked for, or the lock is lost. Every event it is handed ends
up persisted (or dead-lettered after repeated refusals) and then acknowledged; if the process dies
in between, the entry stays pending and is delivered again, and the repository's ON CONFLICT makes
the second write a no-op. Transient errors are ridden out by ``worker/retries.py``; a batch the
database refuses for good is split by ``worker/poison.py``.
"""

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import partial

from sluicegate import tracing
from sluicegate.errors import (
    LockLostError,
    RejectedEventError,
    TransientStoreError,
)
from sluicegate.events import Delivery, Event
from sluicegate.logs import get_logger
from sluicegate.process.signals import StopWatch
from sluicegate.queue.lock import Lock
from sluicegate.queue.pending_reply import PendingReply
from sluicegate.queue.reader import QueueReader
from sluicegate.repository import Repository
from sluicegate.settings import Settings
from sluicegate.worker.board import Board
from sluicegate.worker.metrics import ConsumerMetrics
from sluicegate.worker.poison import PoisonSplit
from sluicegate.worker.retries import TRANSIENT, GiveWay, Retrier, Stopping


class Outcome(Enum):
    DRAINED = "drained"  # nothing new to read, and another queue is waiting
    SHARE_USED = "share-used"  # its fair share of batches taken, and another queue is waiting
    STOPPED = "stopped"  # a stop signal, or the agent died
    LOCK_LOST = "lock-lost"
    IDLE = "idle"  # no other queue waiting, and nothing here for a TTL
    GAVE_WAY = "gave-way"  # its destination's store kept failing while another lane waited
    SPARE = "spare"  # held a lane's second (or later) slot, and the lane has caught up


@dataclass(frozen=True, slots=True)
class Stay:
    """How long to stay: ``batches`` while ``others_waiting()``; while nothing else waits, the
    consumer stays on (reads block up to QUEUE_BATCH_TIMEOUT) until idle for a TTL. While its
    destination's store fails, only as long as no lane of another destination waits
    (``elsewhere``)."""

    batches: int
    others_waiting: Callable[[], bool] = lambda: False
    elsewhere: Callable[[], bool] = lambda: False


class QueueVisit:
    """One visit of a consumer process to one queue, holding one of its lock slots."""

    def __init__(
        self,
        settings: Settings,
        reader: QueueReader,
        repository: Repository,
        lock: Lock,
        stop: StopWatch,
        board: Board | None = None,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.repository = repository
        self.lock = lock
        self.stop = stop
        self.board = board
        self.metrics = metrics or ConsumerMetrics(None)
        self.log = get_logger(queue=reader.queue, destination=reader.destination, pid=os.getpid())
        self._next_heartbeat = time.monotonic() + settings.heartbeat_interval_s  # just acquired
        self._unconfirmed_ack: tuple[PendingReply[None], Callable[[], None]] | None = None
        self._next_maintenance = 0.0
        self._elsewhere: Callable[[], bool] = lambda: False
        self._linger_s = min(settings.queue_batch_linger_s, settings.queue_batch_timeout_s)
        # A lane's first slot is taken first: a holder of another one is a consumer the lane
        # needed while it had a backlog (QUEUE_CONSUMERS > 1), and leaves once it has caught up.
        self._spare = lock.entry.slot > 0
        self.served = 0  # batches processed in this visit
        self.retrier = Retrier(
            settings.heartbeat_interval_s,
            stop,
            self._heartbeat_if_due,
            self.log,
            reader.client,
            lock.entry.agent,
            board,
            reader.destination,
        )
        self._retry = self.retrier.retry
        self.poison = PoisonSplit(
            self._persist, reader, self.retrier, self.metrics, settings.dead_letter_after, self.log
        )

    def run(self, stay: Stay) -> Outcome:
        """Serve the queue for one visit; the last ack is confirmed before returning."""
        try:
            outcome = self._serve(stay)
            if outcome is not Outcome.IDLE:  # idle: the stream is empty, nothing is pending
                self._persist_own_pending_before_leaving()
            return outcome
        except Stopping:
            self.log.info("consumer-stopping-with-batch-pending")
            return Outcome.STOPPED
        except LockLostError as error:
            self.log.warning("consumer-lock-lost", reason=str(error))
            return Outcome.LOCK_LOST
        except GiveWay as error:  # the batch stays pending with us: read again on our return
            cause = error.__cause__ or error
            self.log.warning("destination-unavailable-giving-way", error=str(cause))
            return Outcome.GAVE_WAY
        finally:
            self._confirm_ack_before_leaving()

    def _serve(self, stay: Stay) -> Outcome:
        self._elsewhere = stay.elsewhere
        idle_since = time.monotonic()
        batch: list[Delivery] = []
        served = 0
        while not (self.stop.check() and not batch):
            self._retry(self._heartbeat_if_due)
            alone = not stay.others_waiting()
            batch = batch or self._next_batch(block=alone)
            if batch:
                self.served += 1
                served = 0 if alone and served >= stay.batches else served + 1
                spared = self._spare and self._caught_up(batch)
                leaving = spared or (served >= stay.batches and not alone)
                linger = alone and not spared and self._lingers_after(batch)
                read_ahead = not (leaving or linger)
                ahead = self._process_reading_ahead(batch, read_ahead=read_ahead, block=alone)
                batch = ahead or []
                idle_since = time.monotonic()
                if linger:
                    self.stop.wait(self._linger_s)
                if leaving and not batch:
                    return Outcome.SPARE if spared else Outcome.SHARE_USED
                if ahead == [] and not alone:  # the read ahead found nothing: no need to ask twice
                    return Outcome.DRAINED
            elif not alone:
                return Outcome.DRAINED
            elif self._idle_for_good(idle_since):
                return Outcome.IDLE
        return Outcome.STOPPED

    def _caught_up(self, batch: Sequence[Delivery]) -> bool:
        """A batch smaller than a full one: nothing more was waiting."""
        return len(batch) < self.settings.queue_batch_size

    def _lingers_after(self, batch: Sequence[Delivery]) -> bool:
        """Caught up: with QUEUE_BATCH_LINGER the consumer lets the next batch fill up instead
        of reading ahead."""
        return self._linger_s > 0 and self._caught_up(batch)

    def _persist_own_pending_before_leaving(self) -> None:
        """A read whose reply was lost (a reset connection; the client sends the read again, or
        a read ahead that failed) left entries delivered to this consumer that it never saw.
        Persist them before leaving the queue: a graceful stop must leave nothing in flight
        (found by the random drill, seed 71), and a consumer serving several queues may not be
        back to this one before the stop (found by drill --queues 500 --fault mixed, seed 3)."""
        count = self.settings.queue_batch_size
        while True:  # several reads may have been lost: until a read finds less than a batch
            self._confirm_ack()
            own, full = self._retry(partial(self.reader.read_own_pending, count))
            if not own:
                return
            self.log.info("own-pending-persisted-before-leaving", count=len(own))
            self.process(own)
            if not full:  # entries refused for now stay pending: not read again here
                return

    def _idle_for_good(self, idle_since: float) -> bool:
        """Idle for a TTL and nothing left, not even entries waiting to be reclaimed."""
        if time.monotonic() - idle_since <= self.settings.queue_agent_worker_ttl_s:
            return False
        return self._retry(self.reader.length) == 0

    def _next_batch(self, block: bool) -> list[Delivery]:
        """When maintenance is due, our own pending, reclaimable and new entries in one round
        trip; else (or to wait for entries when alone) new ones."""
        self._confirm_ack()  # or our own last batch would look pending still
        if self._maintenance_due():
            batch = self._retry(self._maintenance)
            if batch or not block:
                return batch
        if not self._retry(self.reader.ready):  # its destination gathers a larger batch
            if block:
                self.stop.wait(self.settings.queue_batch_timeout_s)
            return []
        return self._retry(partial(self.reader.read_new, *self._read_args(block)))

    def _read_args(self, block: bool) -> tuple[int, int | None]:
        block_ms = int(self.settings.queue_batch_timeout_s * 1000) if block else None
        return self.settings.queue_batch_size, block_ms

    def _process_reading_ahead(
        self, batch: Sequence[Delivery], read_ahead: bool, block: bool
    ) -> list[Delivery] | None:
        """Process ``batch`` while the server reads the next one; returns that next batch (None:
        nothing was read ahead, or the read failed).

        No read ahead once a stop was asked for, maintenance is due, or the visit ends. A stop
        that arrives meanwhile finds the read-ahead batch processed too before the consumer leaves.
        """
        ahead = None
        if read_ahead and not (self.stop.requested or self._maintenance_due()):
            ahead = self._send_read(block)
        if ahead is None:
            self.process(batch)
            return None
        try:
            self.process(batch)
        except BaseException:
            ahead.abandon()
            raise
        try:
            return ahead.result()
        except TRANSIENT as error:  # what it delivered stays pending with us: reread on leaving
            self.log.warning("read-ahead-failed", error=str(error))
            return None

    def _send_read(self, block: bool) -> PendingReply[list[Delivery]] | None:
        try:
            if not self.reader.ready():
                return None
            return self.reader.send_read(">", *self._read_args(block))
        except TRANSIENT as error:  # Redis is away: process without reading ahead
            self.log.warning("read-ahead-failed", error=str(error))
            return None

    def process(self, batch: Sequence[Delivery]) -> None:
        """Persist, then acknowledge; a refused batch is split to find the poison events.

        The ack is sent and confirmed at the next batch (or on the way out): Redis runs it while
        the next transaction commits. Until confirmed the entries stay pending; an ack that did not
        go through is sent again, and a crash meanwhile means a redelivery that stores nothing.
        """
        events = [d.event for d in batch]
        started = time.perf_counter()
        try:
            inserted = self.retrier.retry(partial(self._persist, events), self._give_way)
        except RejectedEventError:
            self._confirm_ack()
            self.poison.persist_one_by_one(batch)
            return
        self.metrics.batch_persisted(
            events[0].queue, events, inserted, time.perf_counter() - started
        )
        self._confirm_ack()
        redo = partial(self.reader.ack, batch, inserted, len(batch) - inserted)
        try:
            self._unconfirmed_ack = (self.reader.send_ack(*redo.args), redo)
        except TRANSIENT:
            self._retry(redo)

    def _give_way(self, error: Exception) -> bool:
        """Leave the lane when its destination's store fails while a lane of another destination
        waits: a store that is down must not hold this consumer back from the others."""
        return isinstance(error, TransientStoreError) and self._elsewhere()

    def _persist(self, events: Sequence[Event]) -> int:
        """``repository.persist``, after the destination's backoff when we would have to connect
        (or, while another destination's lane waits, leaving this one instead of waiting)."""
        if self.board is not None and not self.repository.connected:
            self.retrier.wait_out_shared_backoff(self._elsewhere)
        with tracing.persist_span(events[0].queue, events):
            inserted = self.repository.persist(events)
        if self.board is not None:
            self.board.accepted(self.reader.destination)
        return inserted

    def _confirm_ack(self) -> None:
        if self._unconfirmed_ack is None:
            return
        reply, redo = self._unconfirmed_ack
        self._unconfirmed_ack = None
        try:
            reply.result()
        except TRANSIENT as error:
            self.log.warning("ack-unconfirmed", error=str(error))
            self._retry(redo)

    def _confirm_ack_before_leaving(self) -> None:
        try:
            self._confirm_ack()
        except (Stopping, LockLostError, *TRANSIENT) as error:
            self.log.warning("last-ack-unconfirmed", error=repr(error))

    def _heartbeat_if_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self.lock.heartbeat()
            self._next_heartbeat = now + self.settings.heartbeat_interval_s

    def _maintenance(self) -> list[Delivery]:
        """At the start of a visit, then every heartbeat interval: re-read our own pending
        entries, take over those of dead consumers, and read new ones, all in one round trip
        (``QueueReader.upkeep``) unless a dead consumer's entries must be claimed or forgotten.
        Everything it returns is delivered to us: one batch (up to three reads' worth)."""
        now = time.monotonic()
        self._next_maintenance = now + self.settings.heartbeat_interval_s
        count = self.settings.queue_batch_size
        min_idle_s = self.settings.reclaim_min_idle_s
        upkeep = self.reader.upkeep(count, min_idle_s, read_new=self.reader.ready())
        claimed = upkeep.claimed
        if not (upkeep.own or claimed):
            claimed = self.reader.claim_from_gone(count, upkeep.consumers)
        if claimed:
            self.reader.count_reclaimed(len(claimed))
            self.metrics.reclaimed(claimed[0].event.queue, len(claimed))
            self.log.info("entries-reclaimed", count=len(claimed))
            self._next_maintenance = now  # there may be more
        elif not upkeep.own:
            self.reader.forget_idle_consumers(min_idle_s, upkeep.consumers)
        return upkeep.own + claimed + upkeep.new

    def _maintenance_due(self) -> bool:
        return time.monotonic() >= self._next_maintenance
