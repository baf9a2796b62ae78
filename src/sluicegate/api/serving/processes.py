"""``API_WORKERS=N``: N API processes serving one port, started and drained together.

The parent binds the port once and starts N ``python -m sluicegate.api`` processes that inherit
the listening socket (``SLUICEGATE_API_LISTEN_FD``): the kernel hands each connection to one of
them. Fresh interpreters, not forks, so each worker makes its own event loop and Redis client,
and prometheus-client starts in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, a folder of the
parent's), so ``/metrics`` on any worker counts the requests of all of them.

``SIGTERM`` (or Ctrl-C): the parent closes its copy of the socket and passes the signal on; every
worker drains as a single API does (``/readyz`` 503, in-flight requests finished, every 202
durable) and the parent exits 0 once all of them exited 0. A second signal is passed on too (the
workers stop at once). A worker that dies while serving is started again.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from sluicegate.api.metrics import MULTIPROC_ENV
from sluicegate.logs import get_logger
from sluicegate.process.signals import TERMINATING, SignalInbox
from sluicegate.settings import Settings

LISTEN_FD_ENV = "SLUICEGATE_API_LISTEN_FD"
_POLL_S = 0.2
_BACKLOG = 2048


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(_BACKLOG)
    sock.set_inheritable(True)
    return sock


def inherited_socket() -> socket.socket | None:
    """The listening socket a worker got from its parent, if it is one."""
    fd = os.environ.get(LISTEN_FD_ENV)
    return socket.socket(fileno=int(fd)) if fd else None


class Workers:
    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.log = get_logger(component="api-workers")
        self.sock = listening_socket(settings.host, settings.port)
        self.metrics_dir = tempfile.mkdtemp(prefix="sluicegate-api-metrics-")
        self.env = os.environ | {
            "REDIS_URL": redis_url,
            "API_WORKERS": "1",
            LISTEN_FD_ENV: str(self.sock.fileno()),
            MULTIPROC_ENV: self.metrics_dir,
        }
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False
        self.exit_code = 0

    def run(self) -> int:
        """Serve until a signal; 0 when every worker drained and exited 0."""
        inbox = SignalInbox(TERMINATING)
        host, port = self.sock.getsockname()[:2]
        # Listening already: connections wait in the backlog until a worker takes them.
        self.log.info("api-listening", host=host, port=port, workers=self.count)
        try:
            for _ in range(self.count):
                self._start_one()
            while self.workers:
                inbox.wait(_POLL_S)
                self._forward(inbox.take())
                self._reap()
        finally:
            inbox.close()
            self._close_socket()
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return self.exit_code

    @property
    def count(self) -> int:
        return self.settings.api_workers

    def _start_one(self) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "sluicegate.api"], env=self.env, pass_fds=(self.sock.fileno(),)
        )
        self.workers[process.pid] = process
        self.log.info("api-worker-started", worker_pid=process.pid)

    def _forward(self, received: list[int]) -> None:
        for signum in received:
            if not self.stopping:
                self.stopping = True
                self._close_socket()  # once the workers close theirs, nothing is accepted
                self.log.info("api-workers-draining", signal=signal.Signals(signum).name)
            for process in self.workers.values():
                process.send_signal(signum)

    def _reap(self) -> None:
        for pid, process in list(self.workers.items()):
            code = process.poll()
            if code is None:
                continue
            del self.workers[pid]
            _forget_metrics(pid, self.metrics_dir)
            self.log.info("api-worker-exited", worker_pid=pid, code=code)
            if self.stopping:
                self.exit_code = self.exit_code or code
            else:  # died while serving: the port must stay served
                time.sleep(_POLL_S)
                self._start_one()

    def _close_socket(self) -> None:
        if self.sock.fileno() != -1:
            self.sock.close()


def _forget_metrics(pid: int, folder: str) -> None:
    """prometheus-client's cleanup of a gone process (its live gauges)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]
