"""``python -m tests.fork_gate_agent``: the agent with a gate before each fork decision, so a
test can deliver SIGTERM exactly while a fork is about to happen.

Before each decision the agent writes ``$FORK_GATE/at-fork`` and waits for ``$FORK_GATE/go``.
The hook is injected here (``Agent(before_fork=…)``), so production code carries no test switch.
"""

import os
import sys
import time
from pathlib import Path

from sluicegate.logs import configure_logging
from sluicegate.settings import load_settings
from sluicegate.worker.agent import Agent

FORK_GATE = "FORK_GATE"
GATE_DEADLINE_S = 30.0


def wait_at(gate: Path) -> None:
    (gate / "at-fork").touch()
    deadline = time.monotonic() + GATE_DEADLINE_S
    while not (gate / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log_level, log_format=settings.log_format)
    gate = Path(os.environ[FORK_GATE])
    assert settings.resolved_redis_url, "REDIS_URL must be set"
    return Agent(settings, settings.resolved_redis_url, before_fork=lambda: wait_at(gate)).run()


if __name__ == "__main__":
    sys.exit(main())
