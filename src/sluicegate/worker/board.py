"""What an agent and its consumers share: memory mapped before the fork, so no extra round trip.

- One row per consumer: the lock it is about to take or holds (written *before* the ``SET NX``),
  so the agent can release the lock of a consumer it reaped after a crash or a ``SIGKILL`` at
  once, and knows which queue it was serving.
- One database backoff per destination: when a destination's store refuses connections ("too
  many clients"), every consumer of the agent waits for the same jittered moment before it
  connects to that store again, instead of each retrying on its own (what turned a full server
  into a storm of refused connections). The other destinations' stores are not theirs to wait
  for: a destination that refuses backs off its own lanes only.

Times are ``time.monotonic()`` values: CLOCK_MONOTONIC is one clock for every process of a host.
Rows and the backoff are written by single slice assignments; a torn read can only make a reader
wait a little more or less, never lose an event.
"""

import mmap
import struct
import time
from collections.abc import Sequence

from sluicegate.backoff import jittered_delay_s
from sluicegate.queue.keys import DEFAULT_DESTINATION

ROW_BYTES = 1024
_HEADER = struct.Struct("<dqd")  # backoff until (monotonic), consecutive refusals, since
_LENGTH = struct.Struct("<H")


class Board:
    def __init__(self, rows: int, destinations: Sequence[str] = (DEFAULT_DESTINATION,)) -> None:
        """``rows``: MAX_CONSUMERS; ``destinations``: the registry's names, one backoff each."""
        self.rows = rows
        self._slots = {name: index for index, name in enumerate(destinations)}
        self._rows_at = len(self._slots) * _HEADER.size
        self._map = mmap.mmap(-1, self._rows_at + rows * ROW_BYTES)  # MAP_SHARED | MAP_ANONYMOUS

    def _offset(self, row: int) -> int:
        return self._rows_at + row * ROW_BYTES

    def hold(self, row: int, value: str | None) -> None:
        """Record the lock value a consumer takes (or None once released)."""
        data = (value or "").encode()[: ROW_BYTES - _LENGTH.size]
        start = self._offset(row)
        self._map[start : start + _LENGTH.size + len(data)] = _LENGTH.pack(len(data)) + data

    def holding(self, row: int) -> str | None:
        start = self._offset(row)
        (length,) = _LENGTH.unpack(self._map[start : start + _LENGTH.size])
        data = self._map[start + _LENGTH.size : start + _LENGTH.size + length]
        return data.decode(errors="replace") if length else None

    @property
    def destinations(self) -> tuple[str, ...]:
        return tuple(self._slots)

    def _header(self, destination: str) -> slice:
        start = self._slots[destination] * _HEADER.size
        return slice(start, start + _HEADER.size)

    def _read(self, destination: str) -> tuple[float, int, float]:
        until, refusals, since = _HEADER.unpack(self._map[self._header(destination)])
        return until, refusals, since

    def backoff_remaining_s(self, destination: str) -> float:
        return max(0.0, self._read(destination)[0] - time.monotonic())

    def backing_off(self) -> set[str]:
        """The destinations whose backoff runs now: their lanes wait, the others' do not."""
        return {name for name in self._slots if self.backoff_remaining_s(name) > 0}

    def refused(self, destination: str, initial_s: float = 0.2, maximum_s: float = 10.0) -> float:
        """``destination``'s store refused a connection: push its backoff out (unless a sibling
        already did, just now) and return how long to wait."""
        until, refusals, since = self._read(destination)
        now = time.monotonic()
        if until > now:
            return until - now
        delay_s = jittered_delay_s(min(refusals, 16), initial_s, maximum_s)
        self._map[self._header(destination)] = _HEADER.pack(
            now + delay_s, refusals + 1, since or now
        )
        return delay_s

    def accepted(self, destination: str) -> None:
        """A connection went through: the next refusal starts the backoff from the beginning."""
        if self._read(destination)[1]:
            self._map[self._header(destination)] = _HEADER.pack(0.0, 0, 0.0)

    def backoff_state(self, destination: str) -> tuple[int, float]:
        """(consecutive refusals, seconds since the first of them)."""
        _, refusals, since = self._read(destination)
        return refusals, (time.monotonic() - since) if refusals else 0.0

    def close(self) -> None:
        self._map.close()
