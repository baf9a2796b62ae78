"""Hooks that let tests line up a race on purpose. Inert unless their variable is set.

``SLUICEGATE_TEST_FORK_GATE=/dir``: before each fork decision the agent writes ``/dir/at-fork`` and
waits for ``/dir/go``, so a test can deliver SIGTERM exactly while a fork is about to happen.

``SLUICEGATE_TEST_BROKEN_ACK=/path/marker``: a deliberately broken consumer, so a test can prove
that ``sluicegate drill`` catches a loss. The first consumer to reach a batch (the one that
creates the marker file) acknowledges the batch *before* persisting it and then dies: that one
batch is lost, as in the bug this project was born from.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

FORK_GATE_VARIABLE = "SLUICEGATE_TEST_FORK_GATE"
BROKEN_ACK_VARIABLE = "SLUICEGATE_TEST_BROKEN_ACK"
BROKEN_ACK_EXIT = 86
_GATE_DEADLINE_S = 30.0
# Read once: the consumer asks for every batch, and the environment does not change under it.
_BROKEN_ACK_MARKER = os.environ.get(BROKEN_ACK_VARIABLE)


def pause_before_fork() -> None:
    gate = os.environ.get(FORK_GATE_VARIABLE)
    if not gate:
        return
    (Path(gate) / "at-fork").touch()
    deadline = time.monotonic() + _GATE_DEADLINE_S
    while not (Path(gate) / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def broken_ack_before_persist(ack: Callable[[], None]) -> None:
    """Inert unless ``SLUICEGATE_TEST_BROKEN_ACK`` is set: then, once, ack and die unpersisted."""
    if not _BROKEN_ACK_MARKER:
        return
    marker = _BROKEN_ACK_MARKER
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return  # the bug already struck once
    ack()
    os._exit(BROKEN_ACK_EXIT)
