"""The agent's HTTP side: ``/livez``, ``/readyz``, ``/metrics``, served from one thread.

The same thread drains the pipe on which the consumers send their figures. The agent itself is a
synchronous loop that forks; a thread beside it is safe only under three rules, kept here:

- The thread never takes a lock a forked child could need while the agent forks: all its work
  (answering a request, merging figures, logging) runs under ``gate``, and the agent forks holding
  ``gate``. So at the fork the thread waits in ``select`` and holds nothing (no logger lock, no
  stderr buffer lock) that the child would inherit locked.
- The child does not inherit a server: fork copies only the forking thread, and ``close_in_child``
  closes the listening socket and the pipe's read end, so a consumer that outlives a killed agent
  never holds the port that the restarted agent must bind.
- The thread blocks the stop signals, so the kernel delivers them to the agent's main thread only:
  otherwise a SIGTERM landing on this thread during the agent's ``deferred()`` block would be
  recorded at once and a fork could follow it.
"""

import os
import selectors
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from sluicegate.logs import get_logger
from sluicegate.process.signals import deferred

Route = Callable[[], tuple[int, str, bytes]]
_REQUEST_TIMEOUT_S = 2.0
_READ_CHUNK = 65536
_HELD_BACK = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)


@dataclass(frozen=True, slots=True)
class _Running:
    server: HTTPServer
    thread: threading.Thread
    figures_read: int
    figures_write: int
    wake_read: int
    wake_write: int


class AgentHttp:
    """Holds no socket, pipe or thread until ``start``, so an agent that never runs owns none."""

    def __init__(
        self, host: str, port: int, routes: dict[str, Route], on_figures: Callable[[bytes], None]
    ) -> None:
        self.gate = threading.Lock()
        self._address = (host, port)
        self._routes = routes
        self._on_figures = on_figures
        self._running: _Running | None = None

    @property
    def port(self) -> int:
        return int(self._running.server.server_address[1]) if self._running else 0

    @property
    def figures_fd(self) -> int | None:
        """The pipe's write end, which forked consumers inherit and write their figures to."""
        return self._running.figures_write if self._running else None

    def start(self) -> None:
        """Bind (OSError if the port is taken), then serve from a thread."""
        server = HTTPServer(self._address, _handler(self))
        figures_read, figures_write = os.pipe()
        os.set_blocking(figures_read, False)
        os.set_blocking(figures_write, False)  # a consumer never waits for the agent
        wake_read, wake_write = os.pipe()
        thread = threading.Thread(target=self._serve, name="agent-http", daemon=True)
        self._running = _Running(server, thread, figures_read, figures_write, wake_read, wake_write)
        with deferred(_HELD_BACK):  # the thread inherits this mask: signals go to the main thread
            thread.start()

    def _serve(self) -> None:
        running = self._running
        assert running is not None
        with selectors.DefaultSelector() as selector:
            selector.register(running.server.fileno(), selectors.EVENT_READ, running.server)
            selector.register(running.figures_read, selectors.EVENT_READ, running.figures_read)
            selector.register(running.wake_read, selectors.EVENT_READ, None)
            while True:
                for key, _ in selector.select():
                    if key.data is None:
                        return
                    if isinstance(key.data, HTTPServer):
                        key.data.handle_request()
                    else:
                        self._drain_figures(key.data)

    def _drain_figures(self, fd: int) -> None:
        try:
            chunk = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        with self.gate:
            self._on_figures(chunk)

    def answer(self, path: str) -> tuple[int, str, bytes]:
        route = self._routes.get(path.split("?", 1)[0])
        if route is None:
            return 404, "text/plain", b"not found\n"
        with self.gate:
            return route()

    def close_in_child(self) -> None:
        """In a freshly forked consumer: drop every descriptor of the server (not the pipe's
        write end, which the consumer uses)."""
        running = self._running
        if running is None:
            return
        for fd in (running.server.fileno(), running.figures_read, running.wake_read):
            os.close(fd)
        os.close(running.wake_write)

    def stop(self) -> None:
        running, self._running = self._running, None
        if running is None:
            return
        os.write(running.wake_write, b"x")
        running.thread.join(timeout=5)
        running.server.server_close()
        for fd in (running.figures_read, running.figures_write):
            os.close(fd)
        for fd in (running.wake_read, running.wake_write):
            os.close(fd)


def _handler(http: AgentHttp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = _REQUEST_TIMEOUT_S
        server_version = "sluicegate-agent"

        def do_GET(self) -> None:
            status, content_type, body = http.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: probes every few seconds would drown the agent's own log."""

        def log_error(self, format: str, *args: Any) -> None:
            with http.gate:
                get_logger(component="agent-http").warning("agent-http-error", error=format % args)

    return Handler
