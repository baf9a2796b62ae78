"""JSON-lines logs in the original service's shape: ``{level, time, command, payload}``.

``log.info("stop-node-process", pid=42)`` prints
``{"level":"info","time":1732880000000,"command":"stop-node-process","payload":{"pid":42}}``.
"""

import logging
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO, TypeAlias

import orjson

from sluicegate.events import now_ms

# structlog imports rich, when it can, for the console renderer's tracebacks: 0.05 s of CPU (a
# tenth of an agent's start) in every process, for a format that only people ask for. Hidden while
# structlog loads, rich is left to the commands that draw tables; LOG_FORMAT=console prints plain
# Python tracebacks. Every module takes structlog from here, so this import is its first.
_HIDE_RICH = "rich" not in sys.modules
if _HIDE_RICH:
    sys.modules["rich"] = None  # type: ignore[assignment]  # `import rich` raises ImportError
try:
    import structlog
finally:
    if _HIDE_RICH:
        del sys.modules["rich"]

Logger: TypeAlias = structlog.typing.FilteringBoundLogger

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_ENVELOPE = ("level", "time", "command", "payload")


def _to_envelope(_: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    command = event.pop("event", "")
    payload = {key: value for key, value in event.items() if key not in _ENVELOPE}
    return {
        "level": "warning" if method == "warn" else method,
        "time": now_ms(),
        "command": command,
        "payload": payload,
    }


def _render(_: Any, __: str, event: MutableMapping[str, Any]) -> str:
    return orjson.dumps(event, default=str).decode()


def configure_logging(
    level: str = "info", stream: TextIO | None = None, log_format: str = "json"
) -> None:
    """Install the renderer; call once per process (forked children inherit it).

    ``log_format``: ``json`` (the envelope above, for machines), ``console`` (structlog's
    readable, coloured lines, for people), ``auto`` (console when ``stream`` is a terminal).
    """
    out = stream or sys.stderr
    console = log_format == "console" or (log_format == "auto" and _is_terminal(out))
    processors: list[Any] = [structlog.processors.format_exc_info, _to_envelope, _render]
    if console:
        processors = [
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
            structlog.dev.ConsoleRenderer(colors=_is_terminal(out)),
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real file
        return False


def get_logger(**context: Any) -> Logger:
    logger: Logger = structlog.get_logger(**context)
    return logger


class Throttle:
    """At most one log line per key and period: an outage or a crash loop says so, not a flood."""

    def __init__(self, period_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.period_s = period_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        """None: stay quiet this time; else log now (the count is how many were held back)."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.period_s:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)
