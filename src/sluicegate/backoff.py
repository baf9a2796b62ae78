"""Retry delays for things that come back by themselves (a database restart, a Redis restart).

One formula for every wait of the project: a consumer's retries (``worker/retries.py``), the
per-destination database backoff (``worker/board.py``), crash loops (``queue/crash_record.py``,
``worker/crash_backoff.py``).
"""

import random
from dataclasses import dataclass


def jittered_delay_s(attempt: int, initial_s: float, maximum_s: float) -> float:
    """The wait before retry number ``attempt`` (from 0): a ceiling doubling from ``initial_s``
    up to ``maximum_s``, and a random point in its upper half (jitter: no herd retries at once)."""
    ceiling = min(maximum_s, initial_s * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


@dataclass
class Backoff:
    """Exponential backoff with jitter, capped; ``reset`` after a success."""

    initial_s: float = 0.05
    maximum_s: float = 2.0
    attempt: int = 0

    def next_delay_s(self) -> float:
        delay_s = jittered_delay_s(self.attempt, self.initial_s, self.maximum_s)
        self.attempt += 1
        return delay_s

    def reset(self) -> None:
        self.attempt = 0
