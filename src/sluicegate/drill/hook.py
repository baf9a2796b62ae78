"""The drill's test hook: a consumer that stops itself between a commit and its ack, on request.

The drill installs it in the agents it starts (``CONSUMER_CLASS=sluicegate.drill.hook:
PauseAfterCommit``, with ``SLUICEGATE_DRILL_HOOK_DIR`` naming a folder of its own) so that its
``kill`` and ``kill-consumer`` faults land at the one moment that tests a destination's
exactly-once write: the batch is committed, its entries still pending. Nothing of this runs in a
production consumer: the class replaces the default only where the drill sets CONSUMER_CLASS,
and only it reads the variable (once, when the module is imported).

The protocol, through files: the drill creates ``aim`` (its text: a destination's name, which in
a drill is its kind); after a commit into that destination, a consumer claims it by renaming it to
``caught-<pid>`` (only one can), then SIGSTOPs itself. The drill sees the file and kills.
"""

import os
import signal
from collections.abc import Sequence
from pathlib import Path

from sluicegate.events import Event
from sluicegate.worker.visit import QueueVisit

VARIABLE = "SLUICEGATE_DRILL_HOOK_DIR"
CLASS_PATH = "sluicegate.drill.hook:PauseAfterCommit"
AIM = "aim"
CAUGHT = "caught-"
_FOLDER = os.environ.get(VARIABLE)


class PauseAfterCommit(QueueVisit):
    """A consumer that, when the drill asks, stops itself after a commit and before its ack."""

    def _persist(self, events: Sequence[Event]) -> int:
        inserted = super()._persist(events)
        if _FOLDER is not None:
            pause_if_aimed(Path(_FOLDER), self.reader.destination)
        return inserted


def install(root: Path, wanted: bool) -> tuple[Path | None, dict[str, str]]:
    """The hook's folder under ``root`` and the agents' variables that install it (none unless
    ``wanted``)."""
    if not wanted:
        return None, {}
    folder = root / "hook"
    folder.mkdir(exist_ok=True)
    return folder, {"CONSUMER_CLASS": CLASS_PATH, VARIABLE: str(folder)}


def pause_if_aimed(folder: Path, destination: str) -> bool:
    """Claim the drill's request if it is for ``destination`` and stop this process (SIGSTOP)
    until the drill kills it; False when there was nothing to claim."""
    aim = folder / AIM
    try:
        if aim.read_text().strip() != destination:
            return False
        aim.rename(folder / f"{CAUGHT}{os.getpid()}")
    except FileNotFoundError:  # no request, or another consumer claimed it first
        return False
    os.kill(os.getpid(), signal.SIGSTOP)
    return True
