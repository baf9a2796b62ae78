"""The system under test: the drill's own (Redis, API, agent in a temporary folder) or a deployment.

The API and the agent run as subprocesses (``python -m sluicegate api|agent``), each in a session
of its own so a Ctrl-C at the terminal reaches only the drill, which then kills and reaps
everything it started. Waits poll a condition against a deadline; nothing sleeps to synchronise.
"""

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from sluicegate.drill import procs
from sluicegate.embedded import EmbeddedServer, free_port
from sluicegate.errors import DrillError

_POLL_S = 0.02
_START_TIMEOUT_S = 30.0
_KILL_GRACE_S = 5.0  # past the deadline, a graceful stop is given up and the tree killed
AGENT_READY = b'"command":"agent-started"'
_INHERITED_SETTINGS = ("REDIS_HOST", "REDIS_PORT", "DATABASE_URL", "SQLITE_FILEPATH")


@dataclass(frozen=True, slots=True)
class Tuning:
    """Settings of the system the drill starts: short TTLs so a SIGKILL is reclaimed fast."""

    poll_s: float = 0.2
    batch_timeout_s: float = 0.2
    worker_ttl_s: float = 2.0
    shutdown_deadline_s: float = 5.0
    consumer_batch: int = 500


@dataclass(frozen=True, slots=True)
class Stopped:
    exit_code: int | None  # None: it did not stop by itself and was killed
    seconds: float
    outlived: tuple[int, ...] = ()  # its children still running after it exited


class Service:
    """One ``python -m sluicegate <name>`` subprocess; each start logs to a file of its own."""

    def __init__(
        self, name: str, env: dict[str, str], log_dir: Path, ready: Callable[["Service"], bool]
    ) -> None:
        self.name = name
        self.env = env
        self.log_dir = log_dir
        self.ready = ready
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.starts}.log"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise DrillError(f"{self.name} is not running")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = _START_TIMEOUT_S) -> float:
        """Start and wait until ready; returns the seconds it took."""
        started = time.monotonic()
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sluicegate", self.name],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while not self.ready(self):
            if self.process.poll() is not None:
                raise DrillError(
                    f"{self.name} exited with {self.process.returncode} while "
                    f"starting:\n{self.log_tail()}"
                )
            if time.monotonic() - started > timeout_s:
                self.kill()
                raise DrillError(f"{self.name} not ready in {timeout_s:.0f} s:\n{self.log_tail()}")
            time.sleep(_POLL_S)
        return time.monotonic() - started

    def terminate(self, deadline_s: float) -> Stopped:
        """SIGTERM, as ``docker stop`` does; wait for the exit, kill the tree past the deadline."""
        process = self.process
        if process is None or process.poll() is not None:
            raise DrillError(f"{self.name} is not running")
        started = time.monotonic()
        os.kill(process.pid, signal.SIGTERM)
        children = procs.children_of(process.pid)  # a draining agent forks no more
        try:
            code: int | None = process.wait(timeout=deadline_s + _KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            procs.kill_tree(process)
            code = None
        seconds = time.monotonic() - started
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


def _agent_ready(service: Service) -> bool:
    try:
        return AGENT_READY in service.log_path.read_bytes()
    except OSError:
        return False


class LocalSystem:
    """Embedded Redis (AOF), SQLite or a given database, the API and the agent, in ``root``."""

    def __init__(self, root: Path, tuning: Tuning, database_url: str | None = None) -> None:
        self.root = root
        self.tuning = tuning
        self.redis = EmbeddedServer(root / "redis")
        self.port = free_port()
        self.database_url = database_url or f"sqlite:///{root / 'events.db'}"
        env = self._env()
        self.api = Service("api", env, root, ready=lambda _: self.api_ready())
        self.agent = Service("agent", env, root, ready=_agent_ready)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _INHERITED_SETTINGS}
        tuning = self.tuning
        env |= {
            "REDIS_URL": self.redis.url,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "SLUICEGATE_DATA_DIR": str(self.root),
            "LOG_LEVEL": "info",
            "DURABILITY": "aof",
            "QUEUE_POLL_FREQ": str(tuning.poll_s),
            "QUEUE_BATCH_TIMEOUT": str(tuning.batch_timeout_s),
            "QUEUE_AGENT_WORKER_TTL": str(tuning.worker_ttl_s),
            "QUEUE_BATCH_SIZE": str(tuning.consumer_batch),
            "SHUTDOWN_DEADLINE": str(tuning.shutdown_deadline_s),
        }
        env["DATABASE_URL"] = (
            self.database_url
        )  # sqlite:///… or postgresql://…, as settings read it
        return env

    def api_ready(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/readyz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> None:
        self.redis.start()
        self.api.start()
        self.agent.start()

    def teardown(self) -> list[str]:
        """Kill and reap everything; returns a problem for each process that would not die."""
        killed = self.agent.kill() + self.api.kill()
        self.redis.kill()
        survivors = procs.wait_gone(killed, timeout_s=5.0)
        return [f"process {pid} outlived the drill" for pid in survivors]


class Deployment:
    """A system the drill did not start: faults are only what --stop-cmd/--start-cmd do."""

    def __init__(
        self,
        api_url: str,
        redis_url: str,
        database_url: str,
        stop_cmd: str | None,
        start_cmd: str | None,
        timeout_s: float = 60.0,
    ) -> None:
        self.api_url = api_url
        self.redis_url = redis_url
        self.database_url = database_url
        self.stop_cmd = stop_cmd
        self.start_cmd = start_cmd
        self.timeout_s = timeout_s

    def run(self, command: str | None) -> Stopped:
        """Run a shell command (such as ``docker compose stop agent``); its exit code, its time."""
        if not command:
            raise DrillError("this fault needs --stop-cmd and --start-cmd")
        started = time.monotonic()
        try:
            done = subprocess.run(  # noqa: S602 - the user's own command, by design
                command,
                shell=True,
                timeout=self.timeout_s,
                check=False,
                capture_output=True,
            )
        except subprocess.TimeoutExpired as error:
            raise DrillError(f"{shlex.quote(command)} ran over {self.timeout_s:.0f} s") from error
        return Stopped(done.returncode, time.monotonic() - started)

    def start(self) -> None:
        """Nothing to start; the API must answer."""
        try:
            httpx.get(f"{self.api_url}/livez", timeout=5.0).raise_for_status()
        except httpx.HTTPError as error:
            raise DrillError(f"the API at {self.api_url} does not answer: {error}") from error

    def teardown(self) -> list[str]:
        return []
