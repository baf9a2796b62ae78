"""Which lane a consumer process serves next: round-robin over the lanes with work.

A lane is a queue read by one of its destinations (``queue/lanes.py``); without
DESTINATIONS_FILE every queue has one. The lanes with work (``destination/work.py``: one
pipelined round trip) are listed in order at most every QUEUE_POLL_FREQ. The cursor is the last
lane visited, so it survives a new list: each consumer walks the lanes in a circle, starting at
a random point, and skips, until the next listing, the lanes it found fully locked or drained.
So every lane with work is visited at least once per round by every consumer that is free, and
a round takes at most the sum of the lanes' fair shares (QUEUE_SHARE_BATCHES x weight batches)
divided by the consumers. A destination whose store is down rests: its lanes are left out for a
while (``rest``), so it never holds back the queues' other destinations.
"""

import bisect
import random
import time

import redis

from sluicegate.destination.config import DEFAULT, Destinations
from sluicegate.destination.work import work_by_lane
from sluicegate.events import now_ms
from sluicegate.queue.crash_record import retry_times
from sluicegate.queue.lanes import Lane


class Rotation:
    def __init__(
        self,
        client: "redis.Redis",
        poll_s: float,
        queues: list[str] | None = None,
        registry: Destinations = DEFAULT,
    ) -> None:
        """``queues``: serve only these (a single-queue consumer); None: every queue."""
        self._client = client
        self._poll_s = poll_s
        self._only = queues
        self._registry = registry
        self._order: list[Lane] = []
        self._skip: set[Lane] = set()
        self._resting: dict[str, float] = {}  # destination -> monotonic time its rest ends
        self._refreshed_at = float("-inf")
        self._last: Lane | None = None
        self._random_start = True
        self.crashed: set[Lane] = set()  # lanes with a crash record (queue/crash_record.py)

    def next_lane(self) -> Lane | None:
        """The next lane with work after the last one, or None while there is none to try."""
        candidates = self._candidates()
        if not candidates:
            return None
        if self._random_start:  # consumers of one agent spread out instead of queueing up
            self._random_start = False
            lane = random.choice(candidates)
        else:
            index = bisect.bisect_right(candidates, self._last) if self._last else 0
            lane = candidates[index % len(candidates)]
        self._last = lane
        return lane

    def skip(self, lane: Lane) -> None:
        """Found fully locked, or drained: not worth another visit before the next listing."""
        self._skip.add(lane)

    def rest(self, destination: str, seconds: float) -> None:
        """Leave ``destination``'s lanes out for ``seconds``: its store is down."""
        self._resting[destination] = time.monotonic() + seconds

    def others_waiting(self, current: Lane) -> bool:
        """Does a lane other than ``current`` have work that this consumer might serve?"""
        return any(lane != current for lane in self._candidates())

    def other_destinations_waiting(self, current: Lane) -> bool:
        """Does a lane of another destination than ``current``'s have work for this consumer?"""
        return any(lane.destination != current.destination for lane in self._candidates())

    def until_next_listing_s(self) -> float:
        return max(0.0, self._refreshed_at + self._poll_s - time.monotonic())

    def _candidates(self) -> list[Lane]:
        now = time.monotonic()
        resting = {name for name, until in self._resting.items() if until > now}
        return [
            lane
            for lane in self._fresh_order()
            if lane not in self._skip and lane.destination not in resting
        ]

    def _fresh_order(self) -> list[Lane]:
        if time.monotonic() - self._refreshed_at >= self._poll_s:
            work = list(work_by_lane(self._client, self._registry, self._only))
            retry_at = retry_times(self._client, work)
            now = now_ms()  # a lane whose consumers crashed waits for its retry time
            self._order = [lane for lane in work if retry_at.get(lane, 0) <= now]
            self.crashed = set(retry_at)
            self._skip.clear()
            self._refreshed_at = time.monotonic()
        return self._order
