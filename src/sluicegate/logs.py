"""JSON-lines logs in the original service's shape: ``{level, time, command, payload}``.

``log.info("stop-node-process", pid=42)`` prints
``{"level":"info","time":1732880000000,"command":"stop-node-process","payload":{"pid":42}}``.
"""

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from sluicegate.events import now_ms

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


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Install the JSON renderer; call once per process (forked children inherit it)."""
    structlog.configure(
        processors=[structlog.processors.format_exc_info, _to_envelope, _render],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(**context)
    return logger
