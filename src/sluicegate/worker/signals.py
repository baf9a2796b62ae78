"""Signal handling by the book: handlers record, the loop that owns the state decides.

The C-level handler writes each signal's number to a pipe (``signal.set_wakeup_fd``). Reading that
pipe is the ground truth of what arrived, whether or not Python has run its own handler yet; and
``select`` on it gives sleeps that a signal cuts short.
"""

import os
import select
import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType

TERMINATING = frozenset({signal.SIGTERM, signal.SIGINT})


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Python-level handler: nothing to do, the number is already in the wakeup pipe."""


class SignalInbox:
    def __init__(self, signals: Iterable[int]) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._previous_fd = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        self._signals = list(signals)
        for signum in self._signals:
            signal.signal(signum, _ignore)

    def take(self) -> list[int]:
        """The signals that arrived since the last call, oldest first."""
        received: list[int] = []
        while True:
            try:
                chunk = os.read(self._read_fd, 512)
            except BlockingIOError:
                return received
            if not chunk:
                return received
            received.extend(chunk)

    def wait(self, timeout_s: float) -> None:
        """Sleep up to ``timeout_s``; return at once when a signal arrives (leaving it unread)."""
        select.select([self._read_fd], [], [], max(timeout_s, 0.0))

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for signum in self._signals:
            signal.signal(signum, signal.SIG_DFL)
        os.close(self._read_fd)
        os.close(self._write_fd)


@contextmanager
def deferred(signals: Iterable[int] = TERMINATING) -> Iterator[None]:
    """Hold back ``signals`` in this block: a check-then-act inside it cannot be interleaved."""
    blocked = set(signals)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
