"""Which queue a consumer process serves next: round-robin over the queues with work.

The queues with work (``XLEN`` > 0, one pipelined round trip) are listed in name order at most
every QUEUE_POLL_FREQ. The cursor is the name of the last queue visited, so it survives a new
list: each consumer walks the names in a circle, starting at a random point, and skips, until the
next listing, the queues it found fully locked or drained. So every queue with work is visited at
least once per round by every consumer that is free, and a round takes at most the sum of the
queues' fair shares (QUEUE_SHARE_BATCHES x weight batches) divided by the consumers.
"""

import bisect
import random
import time

import redis

from sluicegate.events import now_ms
from sluicegate.queue.crash_record import retry_times
from sluicegate.queue.stats import work_by_queue


class Rotation:
    def __init__(
        self, client: "redis.Redis", poll_s: float, queues: list[str] | None = None
    ) -> None:
        """``queues``: serve only these (a single-queue consumer); None: every queue."""
        self._client = client
        self._poll_s = poll_s
        self._only = queues
        self._order: list[str] = []
        self._skip: set[str] = set()
        self._refreshed_at = float("-inf")
        self._last: str | None = None
        self._random_start = True
        self.crashed: set[str] = set()  # queues with a crash record (queue/crash_record.py)

    def next_queue(self) -> str | None:
        """The next queue with work after the last one, or None while there is none to try."""
        candidates = [queue for queue in self._fresh_order() if queue not in self._skip]
        if not candidates:
            return None
        if self._random_start:  # consumers of one agent spread out instead of queueing up
            self._random_start = False
            queue = random.choice(candidates)
        else:
            index = bisect.bisect_right(candidates, self._last) if self._last else 0
            queue = candidates[index % len(candidates)]
        self._last = queue
        return queue

    def skip(self, queue: str) -> None:
        """Found fully locked, or drained: not worth another visit before the next listing."""
        self._skip.add(queue)

    def others_waiting(self, current: str) -> bool:
        """Does a queue other than ``current`` have work that this consumer might serve?"""
        return any(queue != current and queue not in self._skip for queue in self._fresh_order())

    def until_next_listing_s(self) -> float:
        return max(0.0, self._refreshed_at + self._poll_s - time.monotonic())

    def _fresh_order(self) -> list[str]:
        if time.monotonic() - self._refreshed_at >= self._poll_s:
            work = list(work_by_queue(self._client, self._only))
            retry_at = retry_times(self._client, work)
            now = now_ms()  # a queue whose consumers crashed waits for its retry time
            self._order = [queue for queue in work if retry_at.get(queue, 0) <= now]
            self.crashed = set(retry_at)
            self._skip.clear()
            self._refreshed_at = time.monotonic()
        return self._order
