"""Run the API under uvicorn, with a drain on SIGTERM/SIGINT.

The drain: the signal handler only records the signal. uvicorn's main loop ticks every 0.1 s;
on the first tick after a signal we set ``draining`` (``/readyz`` and new POSTs answer 503 +
Retry-After) and keep serving for ``api_drain_delay_s`` so a load balancer notices. Then uvicorn
stops listening, finishes in-flight requests (at most ``shutdown_deadline_s``), runs the lifespan
shutdown, and ``serve`` returns 0. A second signal forces the exit at once (``serve`` returns 1).

SIGHUP re-reads ``API_TOKENS_FILE``, ``WEBHOOKS_FILE`` and ``SCHEMAS_FILE`` on the next tick (the
handler only records it).
"""

import contextlib
import logging
import math
import signal
import socket
import threading
import time
from collections.abc import Iterator
from types import FrameType

import uvicorn

from sluicegate.api.app import create_app
from sluicegate.api.auth.bearer import check_exposure
from sluicegate.api.serving import allocator
from sluicegate.api.serving.guard import ClientLimits, protocol_class
from sluicegate.api.serving.processes import Workers, inherited_socket
from sluicegate.api.state import ApiState
from sluicegate.errors import ConfigurationError
from sluicegate.logs import configure_logging, get_logger
from sluicegate.process import collector
from sluicegate.settings import Settings

EXIT_OK = 0
EXIT_FORCED = 1
EXIT_CONFIGURATION = 2
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _ToStructlog(logging.Handler):
    """uvicorn logs through stdlib logging; re-emit its records as our JSON lines."""

    def emit(self, record: logging.LogRecord) -> None:
        get_logger().log(
            record.levelno,
            "uvicorn",
            message=record.getMessage(),
            exc_info=record.exc_info or False,
        )


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ApiState) -> None:
        super().__init__(config)
        self.api_state = state
        self.stop_requested = False
        self.reload_requested = False
        self._drain_until_s: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Signal handler: flags only. The first asks for a drain, a second forces the exit."""
        if self.stop_requested:
            self.force_exit = True
            self.should_exit = True
        self.stop_requested = True

    def handle_reload(self, sig: int, frame: FrameType | None) -> None:
        """SIGHUP handler: a flag; the next tick re-reads the configuration files."""
        self.reload_requested = True

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, minus re-raising the signal afterwards (that would make the exit code -15)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self.handle_reload)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            get_logger().info("api-listening", host=host, port=port)

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter) or self.api_state.fatal is not None:
            return True
        if self.reload_requested:
            self.reload_requested = False
            self.api_state.reload()
        if not self.stop_requested:
            return False
        now_s = time.monotonic()
        if self._drain_until_s is None:
            self.api_state.draining = True
            self._drain_until_s = now_s + self.api_state.settings.api_drain_delay_s
            get_logger().info("api-draining", delay_s=self.api_state.settings.api_drain_delay_s)
        return now_s >= self._drain_until_s


def _route_uvicorn_logs(level: str) -> None:
    handler = _ToStructlog()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = [handler] if name == "uvicorn" else []
        logger.propagate = name != "uvicorn"
        logger.setLevel(level.upper())


def build_server(settings: Settings, redis_url: str) -> DrainingServer:
    app = create_app(settings, redis_url)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=protocol_class(
            ClientLimits(
                header_timeout_s=settings.api_header_timeout_s,
                max_header_bytes=settings.api_max_header_bytes,
                send_timeout_s=settings.api_send_timeout_s,
            )
        ),
        timeout_keep_alive=math.ceil(settings.api_keep_alive_timeout_s),
        limit_concurrency=settings.api_limit_concurrency,
        h11_max_incomplete_event_size=settings.api_max_header_bytes,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_deadline_s),
    )
    return DrainingServer(config, app.state.api)


def serve(settings: Settings, redis_url: str) -> int:
    """Serve until a signal; 0 after a drained stop, 1 if forced, 2 on a configuration error.
    With API_WORKERS > 1, start that many workers on one port and wait for them
    (api.serving.processes)."""
    configure_logging(settings.log_level, log_format=settings.log_format)
    log = get_logger()
    try:
        check_exposure(settings)
    except ConfigurationError as error:
        log.error("api-configuration-error", message=str(error))
        return EXIT_CONFIGURATION
    inherited = inherited_socket()
    if settings.api_workers > 1 and inherited is None:
        return Workers(settings, redis_url).run()
    return _serve_one(settings, redis_url, inherited)


def _serve_one(settings: Settings, redis_url: str, sock: socket.socket | None) -> int:
    _route_uvicorn_logs(settings.log_level)
    log = get_logger()
    try:
        server = build_server(settings, redis_url)
    except ConfigurationError as error:
        log.error("api-configuration-error", message=str(error))
        return EXIT_CONFIGURATION
    collector.settle(collect_first=True)
    allocator.keep_freed_memory()
    try:
        server.run(sockets=[sock] if sock else None)
    except SystemExit:  # uvicorn's way out when startup fails (lifespan error, port taken)
        if server.api_state.fatal is None:
            log.error("api-exited", code=EXIT_FORCED, reason="startup failed")
            return EXIT_FORCED
    if server.api_state.fatal is not None:
        log.error("api-exited", code=EXIT_CONFIGURATION, reason=str(server.api_state.fatal))
        return EXIT_CONFIGURATION
    if server.force_exit:
        log.warning("api-exited", code=EXIT_FORCED, reason="a second signal forced the exit")
        return EXIT_FORCED
    log.info("api-exited", code=EXIT_OK, reason="drained")
    return EXIT_OK
