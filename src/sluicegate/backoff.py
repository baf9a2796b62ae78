"""Retry delays for things that come back by themselves (a database restart, a Redis restart)."""

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    """Exponential backoff with full jitter, capped; ``reset`` after a success."""

    initial_s: float = 0.05
    maximum_s: float = 2.0
    attempt: int = 0

    def next_delay_s(self) -> float:
        ceiling = min(self.maximum_s, self.initial_s * 2**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
