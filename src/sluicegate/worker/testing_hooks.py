"""Hooks that let tests line up a race on purpose. Inert unless their variable is set.

``SLUICEGATE_TEST_FORK_GATE=/dir``: before each fork decision the agent writes ``/dir/at-fork`` and
waits for ``/dir/go``, so a test can deliver SIGTERM exactly while a fork is about to happen.
"""

import os
import time
from pathlib import Path

FORK_GATE_VARIABLE = "SLUICEGATE_TEST_FORK_GATE"
_GATE_DEADLINE_S = 30.0
# Read once at import: the agent asks before every fork.
_FORK_GATE = os.environ.get(FORK_GATE_VARIABLE)


def pause_before_fork() -> None:
    gate = _FORK_GATE
    if not gate:
        return
    (Path(gate) / "at-fork").touch()
    deadline = time.monotonic() + _GATE_DEADLINE_S
    while not (Path(gate) / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
