"""The fault ``destination-down``: one destination's storage unwritable for a while, then back.

Every other destination must go on as if nothing happened: its lag (the age of the oldest entry
its consumer group has not acknowledged) is sampled throughout, and must not grow by most of the
outage's length: a destination held back by the one that is down acknowledges nothing, so its
lag grows second for second (a destination merely behind the load still moves its oldest entry
on, and batching makes its lag a sawtooth of a second or two, hence the margin). The one
that is down keeps its batches pending (never dead-lettered: the end check fails on any dead
letter) and catches up once it is back.

How a destination is made unwritable: ``sql`` as ``db-outage`` does (``database.outage``);
``delta`` by its folder: ``chattr -R +i`` (the drill runs as root, whom permission bits do not
stop, but the immutable attribute does), or, where chattr cannot (not root, a file system without
the attribute), the folder moved aside and an empty file put in its place, so that every path
under it fails.
"""

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sluicegate.drill import database
from sluicegate.drill.checker import StopFacts
from sluicegate.drill.delta_table import local_path
from sluicegate.drill.destinations import Destination
from sluicegate.drill.faults import FaultContext, FaultResult
from sluicegate.drill.schedule import PlannedStop
from sluicegate.errors import DrillError

DOWN_MIN_S = 5.0  # long enough that a destination held back stands out of the sawtooth
HELD_BACK = 0.8  # lag grown by this share of the outage: held back
_SAMPLE_S = 0.2


def destination_down(
    ctx: FaultContext,
    stop: PlannedStop,
    destinations: list[Destination],
    agents_died: Callable[[str], tuple[str, ...]],
) -> FaultResult:
    """One destination (each in turn, from a seeded first) unwritable for ``outage_s`` (5 s at
    least); the others' worst lag meanwhile is measured and judged."""
    down = destinations[ctx.victim(stop, len(destinations))]
    others = [d.name for d in destinations if d is not down]
    seconds = max(ctx.outage_s, DOWN_MIN_S)
    before = ctx.observer.lags_s()
    worst = dict.fromkeys([*others, down.name], 0.0)
    with unwritable(down):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for name, lag_s in ctx.observer.lags_s().items():
                worst[name] = max(worst[name], lag_s)
            database.hold(_SAMPLE_S)
    seen = ctx.inspect()
    held = held_back(down.name, others, before, worst, seconds)
    notes = (*held, *agents_died(f"while destination {down.name} was down"))
    lags = ", ".join(
        f"{name} max {worst[name]:.1f} s (before {before[name]:.1f} s)" for name in others
    )
    remark = (
        f"{down.name} unwritable for {seconds:.1f} s (its lag reached {worst[down.name]:.1f} s); "
        f"lag meanwhile: {lags}"
    )
    return FaultResult(StopFacts(stop.kind, seen.ids, notes=notes), seen, remark=remark)


def held_back(
    down: str,
    others: list[str],
    before: dict[str, float],
    worst: dict[str, float],
    seconds: float,
) -> list[str]:
    """A problem for each other destination whose lag grew by most of the outage."""
    return [
        f"destination {name} was held back while {down} was down: its lag grew from "
        f"{before[name]:.1f} s to {worst[name]:.1f} s in an outage of {seconds:.1f} s"
        for name in others
        if worst[name] - before[name] >= HELD_BACK * seconds
    ]


@contextmanager
def unwritable(destination: Destination) -> Iterator[None]:
    """The destination's storage refuses writes inside this block, and takes them after it."""
    if destination.kind == "sql":
        with database.outage(destination.location):
            yield
        return
    with folder_unwritable(local_path(destination.location)):
        yield


@contextmanager
def folder_unwritable(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)  # no table yet: its creation is refused too
    if _chattr("+i", folder):
        try:
            yield
        finally:
            if not _chattr("-i", folder):
                raise DrillError(f"could not make {folder} writable again (chattr -R -i)")
        return
    aside = folder.with_name(folder.name + ".down")
    folder.rename(aside)
    folder.touch()
    try:
        yield
    finally:
        folder.unlink()
        aside.rename(folder)


def _chattr(flag: str, folder: Path) -> bool:
    """``chattr -R flag folder``; False where chattr is missing or refused."""
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    done = subprocess.run([chattr, "-R", flag, str(folder)], capture_output=True, check=False)
    return done.returncode == 0


def release(folder: Path) -> None:
    """Make a folder a drill left immutable writable again (a run cut short), quietly."""
    if folder.is_dir():
        _chattr("-i", folder)
