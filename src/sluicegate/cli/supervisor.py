"""``sluicegate up``: the embedded Redis, the API and the agent as one foreground process tree.

Each part runs in a session of its own, so the terminal's Ctrl-C reaches only this supervisor,
which stops the parts in order: the API first (no new 202s), then the agent (consumers finish their
batch), then Redis last (everything acknowledged is already in its AOF).
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sluicegate.embedded.server import EmbeddedServer, maxmemory_bytes
from sluicegate.logs import get_logger
from sluicegate.masking import mask_url
from sluicegate.process.signals import TERMINATING, SignalInbox
from sluicegate.settings import Settings

REDIS_URL_FILE = "redis.url"
_STOP_MARGIN_S = 2.0


@dataclass
class Part:
    name: str
    process: subprocess.Popen[bytes]


def embedded_url_file(settings: Settings) -> Path:
    """Where ``up`` writes its embedded server's URL, so ``status`` and ``dlq`` can find it."""
    return settings.data_dir / REDIS_URL_FILE


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = get_logger(component="up", pid=os.getpid())
        self.server: EmbeddedServer | None = None
        self.parts: list[Part] = []
        self.inbox = SignalInbox([signal.SIGTERM, signal.SIGINT, signal.SIGCHLD])

    def run(self) -> int:
        try:
            redis_url = self._redis_url()
            self.parts = [self._spawn("agent", redis_url), self._spawn("api", redis_url)]
            failed = self._wait_for_stop_or_failure()
            self._stop_all()
            return 1 if failed else 0
        finally:
            self._stop_all()
            self.inbox.close()

    def _redis_url(self) -> str:
        if self.settings.resolved_redis_url:
            return self.settings.resolved_redis_url
        maxmemory = maxmemory_bytes(self.settings.embedded_redis_maxmemory)
        self.server = EmbeddedServer(
            self.settings.data_dir / "redis", extra_args=("--maxmemory", str(maxmemory))
        ).start()
        embedded_url_file(self.settings).write_text(self.server.url)
        self.log.info(
            "start-embedded-redis",
            url=mask_url(self.server.url),
            server_pid=self.server.process.pid if self.server.process else None,
            data_dir=str(self.server.data_dir),
            maxmemory_bytes=maxmemory,
        )
        return self.server.url

    def _spawn(self, name: str, redis_url: str) -> Part:
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "DATABASE_URL": self.settings.resolved_database_url,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "sluicegate", name], env=env, start_new_session=True
        )
        self.log.info("start-node-process", part=name, pid=process.pid)
        return Part(name, process)

    def _wait_for_stop_or_failure(self) -> bool:
        """Block until a stop signal (False) or until a part exits by itself (True)."""
        while True:
            if TERMINATING.intersection(self.inbox.take()):
                self.log.info("stop-signal-received")
                return False
            for part in self.parts:
                if part.process.poll() is not None:
                    self.log.error("part-exited", part=part.name, exit_code=part.process.returncode)
                    return True
            self.inbox.wait(1.0)

    def _stop_all(self) -> None:
        for part in reversed(self.parts):  # API first, then the agent
            self._stop(part)
        self.parts = []
        if self.server is not None:
            self.log.info("stop-embedded-redis")
            self.server.stop()
            self.log.info("stopped-embedded-redis")
            embedded_url_file(self.settings).unlink(missing_ok=True)
            self.server = None

    def _stop(self, part: Part) -> None:
        """SIGTERM, wait for the part's own deadline; a second Ctrl-C is passed on as is."""
        if part.process.poll() is None:
            self.log.info("stop-node-process", part=part.name, pid=part.process.pid)
            part.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_deadline_s + _STOP_MARGIN_S
        while part.process.poll() is None and time.monotonic() < deadline:
            if TERMINATING.intersection(self.inbox.take()):
                part.process.send_signal(signal.SIGTERM)  # the part's "second signal: stop now"
            self.inbox.wait(0.05)
        if part.process.poll() is None:
            self.log.warning("kill-node-process", part=part.name, pid=part.process.pid)
            part.process.kill()
        part.process.wait()
        self.log.info("stopped-node-process", part=part.name, exit_code=part.process.returncode)
