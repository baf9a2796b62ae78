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
from sluicegate.queue.entry_format import entries_by_id
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
        """Each entry's events one by one; an entry is acknowledged once all of them are stored,
        or, when some are refused for good, together with their move to the dead letters."""
        for entry in entries_by_id(batch):
            stored = duplicates = 0
            refused: list[tuple[Delivery, str]] = []
            for delivery in entry:
                inserted = self._persist_alone(delivery, refused)
                if inserted is not None:
                    stored, duplicates = stored + inserted, duplicates + 1 - inserted
            if refused:
                self._retrier.retry(partial(self._refuse, entry, refused, stored, duplicates))
            else:
                self._retrier.retry(partial(self._reader.ack, entry, stored, duplicates))

    def _persist_alone(self, delivery: Delivery, refused: list[tuple[Delivery, str]]) -> int | None:
        """Rows stored for one event (0: stored before); None when refused (added to
        ``refused``)."""
        started = time.perf_counter()
        try:
            inserted = self._retrier.retry(partial(self._persist, [delivery.event]))
        except RejectedEventError as error:
            refused.append((delivery, str(error)))
            return None
        self._metrics.batch_persisted(
            delivery.event.queue, [delivery.event], inserted, time.perf_counter() - started
        )
        return inserted

    def _refuse(
        self,
        entry: Sequence[Delivery],
        refused: Sequence[tuple[Delivery, str]],
        stored: int,
        duplicates: int,
    ) -> None:
        """Dead-letter after DEAD_LETTER_AFTER deliveries; until then leave the entry pending to
        retry. Its other events are counted when it leaves, as this delivery found them (stored
        by an earlier one: redeliveries absorbed)."""
        entry_id = entry[0].entry_id
        deliveries = self._reader.delivery_counts([entry[0]]).get(entry_id, 0)
        dead = deliveries >= self._dead_letter_after
        if dead:
            self._reader.dead_letter_entry(entry, refused, deliveries, stored, duplicates)
        for delivery, reason in refused:
            if dead:
                self._metrics.dead_lettered(delivery.event.queue)
            self._log.warning(
                "event-dead-lettered" if dead else "event-refused",
                event_id=delivery.event.event_id,
                reason=reason,
                deliveries=deliveries,
            )
