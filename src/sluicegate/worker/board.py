"""What an agent and its consumers share: memory mapped before the fork, so no extra round trip.

- One row per consumer: the lock it is about to take or holds (written *before* the ``SET NX``),
  so the agent can release the lock of a consumer it reaped after a crash or a ``SIGKILL`` at
  once, and knows which queue it was serving.
- One database backoff for the whole agent: when the database refuses connections ("too many
  clients"), every consumer waits for the same jittered moment instead of each retrying on its
  own, which is what turned a full server into a storm of refused connections.

Times are ``time.monotonic()`` values: CLOCK_MONOTONIC is one clock for every process of a host.
Rows and the backoff are written by single slice assignments; a torn read can only make a reader
wait a little more or less, never lose an event.
"""

import mmap
import struct
import time

from sluicegate.backoff import jittered_delay_s

ROW_BYTES = 1024
_HEADER = struct.Struct("<dqd")  # backoff until (monotonic), consecutive refusals, since
_LENGTH = struct.Struct("<H")


class Board:
    def __init__(self, rows: int) -> None:
        self.rows = rows
        self._map = mmap.mmap(-1, _HEADER.size + rows * ROW_BYTES)  # MAP_SHARED | MAP_ANONYMOUS

    def _offset(self, row: int) -> int:
        return _HEADER.size + row * ROW_BYTES

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

    def backoff_remaining_s(self) -> float:
        until: float = _HEADER.unpack(self._map[: _HEADER.size])[0]
        return max(0.0, until - time.monotonic())

    def refused(self, initial_s: float = 0.2, maximum_s: float = 10.0) -> float:
        """The database refused a connection: push the shared backoff out (unless a sibling
        already did, just now) and return how long to wait."""
        until: float
        until, refusals, since = _HEADER.unpack(self._map[: _HEADER.size])
        now = time.monotonic()
        if until > now:
            return until - now
        delay_s = jittered_delay_s(min(refusals, 16), initial_s, maximum_s)
        self._map[: _HEADER.size] = _HEADER.pack(now + delay_s, refusals + 1, since or now)
        return delay_s

    def accepted(self) -> None:
        """A connection went through: the next refusal starts the backoff from the beginning."""
        if _HEADER.unpack(self._map[: _HEADER.size])[1]:
            self._map[: _HEADER.size] = _HEADER.pack(0.0, 0, 0.0)

    def backoff_state(self) -> tuple[int, float]:
        """(consecutive refusals, seconds since the first of them)."""
        _, refusals, since = _HEADER.unpack(self._map[: _HEADER.size])
        return refusals, (time.monotonic() - since) if refusals else 0.0

    def close(self) -> None:
        self._map.close()
