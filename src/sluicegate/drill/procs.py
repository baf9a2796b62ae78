"""Processes by pid, read from /proc: children, liveness, and killing a whole tree for sure.

Consumers call ``os.setpgrp()``, so a process group does not hold the agent's tree; the parent
links in /proc do. To kill a tree without a race against a fork, the root is frozen first
(SIGSTOP), then its descendants are listed and killed, then the root.
"""

import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

_POLL_S = 0.02
PROC = Path("/proc")


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/pid/stat after the command name (which may hold spaces and parens)."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def is_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def is_stopped(pid: int) -> bool:
    """True once ``pid`` is stopped by a signal (SIGSTOP), or gone."""
    fields = stat_fields(pid)
    return fields is None or fields[0] in ("T", "Z")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = stat_fields(int(entry.name))
            if fields is not None and fields[1] == str(pid) and fields[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def descendants_of(pid: int) -> list[int]:
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for parent in frontier for child in children_of(parent)]
        found += children
        frontier = children
    return found


def send(pids: Iterable[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def wait_gone(pids: Iterable[int], timeout_s: float) -> list[int]:
    """Wait until none of ``pids`` runs; returns those still running at the deadline."""
    remaining = list(pids)
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = [pid for pid in remaining if is_alive(pid)]
        if not remaining or time.monotonic() > deadline:
            return remaining
        time.sleep(_POLL_S)


def kill_tree(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> list[int]:
    """SIGKILL ``process`` and everything below it; reap it; returns the descendants killed."""
    if process.poll() is not None:
        return []
    send([process.pid], signal.SIGSTOP)  # no fork can happen between listing and killing
    below = descendants_of(process.pid)
    send(below, signal.SIGKILL)
    send([process.pid], signal.SIGKILL)
    process.wait(timeout=timeout_s)
    wait_gone(below, timeout_s)
    return below
