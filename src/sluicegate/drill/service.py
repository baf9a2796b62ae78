"""One ``python -m sluicegate <name>`` subprocess the drill starts, stops and kills.

Each runs in a session of its own so a Ctrl-C at the terminal reaches only the drill, which then
kills and reaps everything it started. Waits poll a condition against a deadline; nothing sleeps
to synchronise.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from sluicegate.drill import procs
from sluicegate.errors import DrillError

_POLL_S = 0.02
START_TIMEOUT_S = 30.0
_KILL_GRACE_S = 5.0  # past the deadline, a graceful stop is given up and the tree killed
AGENT_READY = b'"command":"agent-started"'


@dataclass(frozen=True, slots=True)
class Stopped:
    exit_code: int | None  # None: it did not stop by itself and was killed
    seconds: float
    outlived: tuple[int, ...] = ()  # its children still running after it exited


class Service:
    """One ``python -m sluicegate <name>`` subprocess; each start logs to a file of its own."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        log_dir: Path,
        ready: Callable[["Service"], bool],
        label: str | None = None,
    ) -> None:
        self.name = name  # the sluicegate command it runs
        self.label = label or name  # its logs' name, and the report's (agent, agent2, …)
        self.env = env
        self.log_dir = log_dir
        self.ready = ready
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.exited_at: float | None = None  # when the process last signalled was seen to exit

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.label}-{self.starts}.log"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise DrillError(f"{self.label} is not running")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> float:
        """Start and wait until ready; returns the seconds it took."""
        started = time.monotonic()
        self.launch()
        return self.wait_ready(started, timeout_s)

    def launch(self) -> None:
        """Start it without waiting: it may not get ready until a fault in force is lifted."""
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sluicegate", self.name],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, started: float, timeout_s: float = START_TIMEOUT_S) -> float:
        """Wait until the launched process is ready; the seconds since ``started``."""
        assert self.process is not None
        while not self.ready(self):
            if self.process.poll() is not None:
                raise DrillError(
                    f"{self.label} exited with {self.process.returncode} while "
                    f"starting:\n{self.log_tail()}"
                )
            if time.monotonic() - started > timeout_s:
                self.kill()
                raise DrillError(f"{self.label} not ready in {timeout_s:.0f} s:\n{self.log_tail()}")
            time.sleep(_POLL_S)
        return time.monotonic() - started

    def signal(self) -> tuple[int, list[int]]:
        """SIGTERM, as ``docker stop`` does, without waiting; returns the pid and its children."""
        process = self.process
        if process is None or process.poll() is not None:
            raise DrillError(f"{self.label} is not running")
        self.exited_at = None
        os.kill(process.pid, signal.SIGTERM)
        threading.Thread(target=self._watch, args=(process,), daemon=True).start()
        return process.pid, procs.children_of(process.pid)  # a draining agent forks no more

    def _watch(self, process: "subprocess.Popen[bytes]") -> None:
        """Note the moment of the exit, so a stop is timed right even if looked at later."""
        process.wait()
        self.exited_at = time.monotonic()

    def terminate(self, deadline_s: float) -> Stopped:
        """SIGTERM; wait for the exit, kill the tree past the deadline."""
        started = time.monotonic()
        _, children = self.signal()
        return self.wait_stopped(started, children, deadline_s)

    def wait_stopped(self, started: float, children: list[int], deadline_s: float) -> Stopped:
        """After a SIGTERM sent at ``started``: wait for the exit; past the deadline, kill."""
        process = self.process
        assert process is not None
        try:
            remaining = max(0.0, started + deadline_s + _KILL_GRACE_S - time.monotonic())
            code: int | None = process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            procs.kill_tree(process)
            code = None
        seconds = self.exited_at if code is not None and self.exited_at else time.monotonic()
        seconds -= started
        return Stopped(code, seconds, tuple(procs.wait_gone(children, timeout_s=0.5)))

    def kill(self) -> list[int]:
        """SIGKILL it and every process below it; returns the descendants killed."""
        return procs.kill_tree(self.process) if self.process is not None else []

    def children(self) -> list[int]:
        return procs.children_of(self.pid) if self.running else []

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def agent_ready(service: Service) -> bool:
    """The agent logs ``agent-started`` once it polls; each start has a log file of its own."""
    try:
        return AGENT_READY in service.log_path.read_bytes()
    except OSError:
        return False


def agent_metrics_url(service: Service) -> str | None:
    """The agent's ``/metrics``, on the port its latest start logged (AGENT_PORT=0: a free one)."""
    try:
        lines = service.log_path.read_bytes().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if AGENT_READY in line:
            port = orjson.loads(line)["payload"].get("http_port")
            return f"http://127.0.0.1:{port}/metrics" if port else None
    return None


FORKED = b'"command":"fork-node-process"'


def forked_consumers(service: Service) -> list[int]:
    """Every consumer the agent forked since its last start, from its log (complete once it has
    exited, where a look at its children could miss one forked as the SIGTERM arrived)."""
    try:
        lines = service.log_path.read_bytes().splitlines()
    except OSError:
        return []
    return [int(orjson.loads(line)["payload"]["consumer_pid"]) for line in lines if FORKED in line]
