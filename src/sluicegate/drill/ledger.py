"""What the drill's client was told about every event id it sent.

Outcomes only ever improve for an id (refused -> unknown -> acknowledged): a batch refused with a
503 and retried until a 202 is acknowledged. While a request for an id is outstanding the id counts
as *unknown* (it may land at any moment), never as refused, so a check that reads the stream while
a retry is on the wire cannot call the retried id "refused yet stored".
"""

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum


class Outcome(IntEnum):
    REFUSED = 0  # a 4xx/5xx answer, or the request never left: must NOT be stored
    UNKNOWN = 1  # a timeout or a reset mid-request: may be stored or not
    ACKED = 2  # a 2xx answer: must be stored, exactly once


@dataclass(frozen=True, slots=True)
class LedgerView:
    """A consistent copy of the ledger at one moment."""

    acked: frozenset[str]
    unknown: frozenset[str]  # includes ids with a request outstanding
    refused: frozenset[str]

    @property
    def sent(self) -> frozenset[str]:
        return self.acked | self.unknown | self.refused

    def by_queue(self, queue_of: Callable[[str], str | None]) -> dict[str, "LedgerView"]:
        """This view split by the queue each id was sent to (ids of no queue are left out)."""
        parts: dict[str, tuple[set[str], set[str], set[str]]] = {}
        for slot, ids in enumerate((self.acked, self.unknown, self.refused)):
            for event_id in ids:
                queue = queue_of(event_id)
                if queue is not None:
                    parts.setdefault(queue, (set(), set(), set()))[slot].add(event_id)
        return {
            queue: LedgerView(frozenset(acked), frozenset(unknown), frozenset(refused))
            for queue, (acked, unknown, refused) in parts.items()
        }


class Ledger:
    """Thread-safe: the loader records from its event-loop thread, the checks read from another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._best: dict[str, Outcome] = {}
        self._outstanding: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()  # "202", "503", "ReadTimeout", ...
        self.requests = 0
        self._acked = 0

    def begin(self, ids: Iterable[str]) -> None:
        """A request carrying ``ids`` is about to be sent."""
        with self._lock:
            self.requests += 1
            self._outstanding.update(ids)

    def finish(self, ids: Iterable[str], outcome: Outcome, status: str) -> None:
        """The request ended with ``outcome``; ``status`` is the code or the error's name."""
        with self._lock:
            self.statuses[status] += 1
            for event_id in ids:
                self._outstanding[event_id] -= 1
                if self._outstanding[event_id] <= 0:
                    del self._outstanding[event_id]
                previous = self._best.get(event_id)
                if previous is None or outcome > previous:
                    self._best[event_id] = outcome
                    self._acked += outcome is Outcome.ACKED

    def status_counts(self) -> Counter[str]:
        """A copy of ``statuses``, safe to read while the loader records."""
        with self._lock:
            return Counter(self.statuses)

    def view(self) -> LedgerView:
        with self._lock:
            outstanding = set(self._outstanding)
            best = dict(self._best)
        acked = frozenset(i for i, o in best.items() if o is Outcome.ACKED)
        unknown = frozenset(
            {i for i, o in best.items() if o is Outcome.UNKNOWN} | (outstanding - acked)
        )
        refused = frozenset(
            i for i, o in best.items() if o is Outcome.REFUSED and i not in outstanding
        )
        return LedgerView(acked=acked, unknown=unknown, refused=refused)

    def acked_count(self) -> int:
        return self._acked
