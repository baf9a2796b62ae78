"""Fail fast on configuration that can never work, before a command forks or serves.

Each check raises ``ConfigurationError`` with one line that names the variable and the fix; the
CLI turns it into exit code 2. What is only *not up yet* (a database restarting, Redis starting)
is not checked here: the agent and consumers wait for it and retry.
"""

import importlib
import os
from pathlib import Path
from urllib.parse import urlsplit

from sluicegate.destination.config import VARIABLE, load_destinations
from sluicegate.errors import ConfigurationError
from sluicegate.repository import SQLITE_HAS_NO_STANDBYS
from sluicegate.settings import Settings

POSTGRES_DRIVER = "psycopg"
POSTGRES_EXTRA = "pip install 'sluicegate[postgres]'"
_POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})
_REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


def check_redis(settings: Settings) -> None:
    """A Redis URL, when one is set, must be one redis-py can connect with."""
    url = settings.resolved_redis_url
    if url is None:
        return
    scheme = urlsplit(url).scheme
    if scheme not in _REDIS_SCHEMES:
        variable = "REDIS_URL" if settings.redis_url else "REDIS_HOST"
        raise ConfigurationError(
            f"{variable}: unsupported scheme {scheme!r}; use redis://host:6379/0, "
            "rediss://… (TLS) or unix:///path/to/socket"
        )


def check_database(settings: Settings) -> None:
    """The database URL's scheme, its driver, and for SQLite a folder that can hold the file."""
    check_database_url(settings.resolved_database_url, database_variable(settings))
    if settings.database_replicas and urlsplit(settings.resolved_database_url).scheme == "sqlite":
        raise ConfigurationError(SQLITE_HAS_NO_STANDBYS)


def check_destinations(settings: Settings) -> None:
    """DESTINATIONS_FILE parses, and each SQL destination's own URL could work."""
    registry = load_destinations(settings.destinations_file)
    for destination in registry.all:
        if destination.kind == "sql" and destination.url is not None:
            where = f"{VARIABLE} [destinations.{destination.name}] url"
            check_database_url(destination.url, where)
            if settings.database_replicas and urlsplit(destination.url).scheme == "sqlite":
                raise ConfigurationError(f"{where}: {SQLITE_HAS_NO_STANDBYS}")


def database_variable(settings: Settings) -> str:
    """The variable the database location came from, for messages."""
    if settings.database_url:
        return "DATABASE_URL"
    return "SQLITE_FILEPATH" if settings.sqlite_filepath else "SLUICEGATE_DATA_DIR"


def check_database_url(url: str, variable: str) -> None:
    """``variable`` names where ``url`` came from (a variable, or a command-line option)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        check_sqlite_path(Path(url.removeprefix("sqlite:///")), variable)
    elif scheme in _POSTGRES_SCHEMES:
        if not importable(POSTGRES_DRIVER):
            raise ConfigurationError(
                f"{variable} is a PostgreSQL URL but its driver ({POSTGRES_DRIVER}) is not "
                f"installed: {POSTGRES_EXTRA}"
            )
    else:
        raise ConfigurationError(
            f"{variable}: unsupported database scheme {scheme!r}; use sqlite:///path/events.db "
            "or postgresql://user@host/db"
        )


def importable(module: str) -> bool:
    """Whether ``import module`` works here (a missing extra, or a broken install)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def check_sqlite_path(path: Path, variable: str) -> None:
    """Make the file's folder (as the repository would) and prove it is writable."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"{variable}: cannot make the folder {folder} for {path.name} ({error.strerror}); "
            f"point {variable} at a path whose folder can be made and written"
        ) from None
    if path.exists() and not path.is_file():
        raise ConfigurationError(f"{variable}: {path} exists and is not a file; name a file")
    writable = os.access(folder, os.W_OK | os.X_OK)
    if not writable or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        raise ConfigurationError(
            f"{variable}: {path} is not writable by this user; point it at a writable path"
        )
