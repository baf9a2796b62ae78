"""Poison events: when the database refuses a batch for good, find which events it refuses.

The batch is persisted again one event at a time; each event the database still refuses stays
pending, to be retried on its next delivery, and goes to the queue's dead-letter stream with the
database's reason once it has been delivered ``DEAD_LETTER_AFTER`` times. The others are persisted
and acknowledged as usual. A transient error is never a refusal: it is retried, never dead-lettered.
"""

import time
from collections.abc import Callable, Sequence
from functools import partial

from sluicegate.errors import RejectedEventError
from sluicegate.events import Delivery, Event
from sluicegate.logs import Logger
from sluicegate.queue.reader import QueueReader
from sluicegate.worker.metrics import ConsumerMetrics
from sluicegate.worker.retries import Retrier


class PoisonSplit:
    """``persist`` stores events (one transaction, the visit's own persist); ``retrier`` rides out
    transient errors in between."""

    def __init__(
        self,
        persist: Callable[[Sequence[Event]], int],
        reader: QueueReader,
        retrier: Retrier,
        metrics: ConsumerMetrics,
        dead_letter_after: int,
        log: Logger,
    ) -> None:
        self._persist = persist
        self._reader = reader
        self._retrier = retrier
        self._metrics = metrics
        self._dead_letter_after = dead_letter_after
        self._log = log

    def persist_one_by_one(self, batch: Sequence[Delivery]) -> None:
        retry = self._retrier.retry
        for delivery in batch:
            started = time.perf_counter()
            try:
                inserted = retry(partial(self._persist, [delivery.event]))
            except RejectedEventError as error:
                retry(partial(self._refuse, delivery, str(error)))
                continue
            self._metrics.batch_persisted(
                delivery.event.queue, [delivery.event], inserted, time.perf_counter() - started
            )
            retry(partial(self._reader.ack, [delivery], inserted, 1 - inserted))

    def _refuse(self, delivery: Delivery, reason: str) -> None:
        """Dead-letter after DEAD_LETTER_AFTER deliveries; until then leave it pending to retry."""
        deliveries = self._reader.delivery_counts([delivery]).get(delivery.entry_id, 0)
        dead = deliveries >= self._dead_letter_after
        if dead:
            self._reader.dead_letter(delivery, reason, deliveries)
            self._metrics.dead_lettered(delivery.event.queue)
        self._log.warning(
            "event-dead-lettered" if dead else "event-refused",
            event_id=delivery.event.event_id,
            reason=reason,
            deliveries=deliveries,
        )
