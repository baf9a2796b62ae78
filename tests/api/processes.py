"""The API run as ``python -m sluicegate.api`` in its own process group, for process-level tests."""

import os
import signal
import subprocess
import sys
import threading
from typing import Any

import orjson
import pytest

from tests.waiting import wait_for


class ApiProcess:
    """``python -m sluicegate.api`` with its JSON log lines collected by a reader thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sluicegate.api"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                self.lines.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                self.lines.append({"command": "not-json", "payload": {"line": line.decode()}})

    def logged(self, command: str) -> dict[str, Any] | None:
        return next((line for line in self.lines if line.get("command") == command), None)

    def port(self) -> int:
        line = wait_for(
            lambda: self.logged("api-listening") or self.process.poll() is not None,
            message="the api-listening log line",
        )
        assert isinstance(line, dict), f"the API exited early: {self.lines}"
        return int(line["payload"]["port"])

    def wait(self, timeout_s: float = 15.0) -> int:
        code = self.process.wait(timeout=timeout_s)
        self._reader.join(timeout=5)
        return code

    def assert_nothing_left(self) -> None:
        """The API ran in its own process group: an empty group means no process outlived it."""
        with pytest.raises(ProcessLookupError):
            os.killpg(self.process.pid, 0)

    def close(self) -> None:
        """Whatever the test did: kill the group, reap, close the pipe."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        assert self.process.stderr is not None
        self.process.stderr.close()
