"""A configuration file in TOML, re-read on SIGHUP (``API_TOKENS_FILE``, ``WEBHOOKS_FILE``,
``SCHEMAS_FILE``; ``DESTINATIONS_FILE`` is read the same way).

Read at start, a mistake stops the API (exit 2, naming the variable and the file). Re-read on
``SIGHUP`` (``serving/server.py`` asks ``ApiState.reload``), a file that no longer parses keeps
what is in force and logs why: a typo in an edit never locks every producer out. Secrets are
never logged, only the names of the entries.
"""

import re
import tomllib
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, TypeVar

from sluicegate.errors import ConfigurationError
from sluicegate.logs import get_logger

T = TypeVar("T")
# A queue glob pattern in any of the files: a queue name's characters and fnmatch's.
_QUEUE_PATTERN = re.compile(r"[a-z0-9_*?\[\]!-]{1,64}")


def check_queue_pattern(pattern: str, where: str) -> None:
    if not _QUEUE_PATTERN.fullmatch(pattern):
        raise ConfigurationError(
            f"{where}: queue pattern {pattern!r} may hold only a-z, 0-9, '_', '-' "
            "and the glob characters * ? [ ] !"
        )


def matches_queue(queue: str, patterns: tuple[str, ...]) -> bool:
    """Whether any of a file's queue patterns (checked by ``check_queue_pattern``) matches."""
    return any(fnmatchcase(queue, pattern) for pattern in patterns)


def read_toml(variable: str, path: Path) -> dict[str, Any]:
    """The file's document; a ConfigurationError naming ``variable`` and the file otherwise."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{variable} {path}: {error}") from None


def reread(
    path: Path | None,
    load: Callable[[Path], T],
    names: Callable[[T | None], list[str]],
    in_force: T | None,
    log_as: tuple[str, str],
) -> T | None:
    """``load(path)`` again: the new value, or None when there is no file or it no longer loads
    (logged as ``<event>-reload-failed`` with the names ``kept``; the caller keeps ``in_force``).
    ``log_as`` is (event, field): a value taken is logged as ``<event>-reloaded``, its names
    under ``field``."""
    if path is None:
        return None
    event, field = log_as
    try:
        value = load(path)
    except ConfigurationError as error:
        get_logger().error(f"{event}-reload-failed", message=str(error), kept=names(in_force))
        return None
    get_logger().info(f"{event}-reloaded", **{field: names(value)})
    return value
