"""Running sluicegate commands as real subprocesses and reading their JSON logs."""

__all__ = ["CommandProcess", "is_alive", "run_sluicegate"]

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from sluicegate.drill.procs import is_alive
from tests.waiting import wait_for


class CommandProcess:
    """``python -m sluicegate <command>`` in a session of its own, its JSON logs in a file."""

    def __init__(
        self,
        command: str,
        env: dict[str, str],
        log_path: Path,
        module: str = "sluicegate",
        wrap: Callable[..., list[str]] | None = None,
    ) -> None:
        """``wrap(*argv)`` runs it elsewhere, e.g. inside another host (tests/netns.py); the
        wrapper must exec the command, so the pid is the command's."""
        self.log_path = log_path
        self._log = log_path.open("ab")
        argv = [sys.executable, "-m", module, *([command] if command else [])]
        self.process = subprocess.Popen(
            wrap(*argv) if wrap else argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def logs(self) -> list[dict[str, Any]]:
        """Complete JSON lines only: the process may be writing the last one right now."""
        complete = self.log_path.read_bytes().rpartition(b"\n")[0]
        return [_parsed(line) for line in complete.splitlines() if line.startswith(b"{")]

    def logged(self, command: str) -> list[dict[str, Any]]:
        return [line["payload"] for line in self.logs() if line["command"] == command]

    def consumer_pids(self) -> set[int]:
        return {entry["consumer_pid"] for entry in self.logged("fork-node-process")}

    def first(self, command: str) -> dict[str, Any] | None:
        """The payload of the first log line of ``command``, if there is one yet."""
        return next(iter(self.logged(command)), None)

    def assert_nothing_left(self) -> None:
        """It ran in a session of its own: an empty process group means nothing outlived it."""
        wait_for(
            lambda: not _group_alive(self.process.pid),
            timeout_s=5,
            message="the process group to empty",
        )

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def wait(self, timeout_s: float = 15.0) -> int:
        return self.process.wait(timeout=timeout_s)

    def kill_all(self) -> None:
        """SIGKILL this process and every consumer it forked (they have their own groups)."""
        _kill(self.process.pid)  # first, so a consumer forked meanwhile is in the logs below
        for pid in self.consumer_pids():
            _kill(pid)
        self.process.wait(timeout=10)
        wait_for(
            lambda: not any(is_alive(pid) for pid in self.consumer_pids()),
            timeout_s=10,
            message="killed consumers to disappear",
        )

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill_all()
        self._log.close()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _parsed(line: bytes) -> dict[str, Any]:
    try:
        parsed: dict[str, Any] = orjson.loads(line)
    except orjson.JSONDecodeError:  # a line that merely starts with "{", e.g. from a crash
        return {"command": None, "payload": {"unparsed": line.decode(errors="replace")}}
    return parsed


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def run_sluicegate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """One ``sluicegate`` command to completion, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "sluicegate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
