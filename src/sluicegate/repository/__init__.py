"""Repositories, chosen by the database URL's scheme."""

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from sluicegate.errors import ConfigurationError
from sluicegate.repository.base import EventStore, Repository

SQLITE_HAS_NO_STANDBYS = (
    "DATABASE_REPLICAS needs PostgreSQL with streaming standbys; SQLite has none: "
    "set DATABASE_REPLICAS=0 or a postgresql:// DATABASE_URL"
)

if TYPE_CHECKING:
    from sluicegate.repository.postgres_schema import PayloadType
    from sluicegate.repository.postgres_writes import WriteStrategy
    from sluicegate.settings import Settings


def open_repository(
    url: str,
    postgres_write: "WriteStrategy" = "arrays",
    replicas: int = 0,
    replicas_timeout_s: float = 1.0,
    payload: "PayloadType" = "json",
) -> EventStore:
    """``sqlite:///relative/path.db``, ``sqlite:////abs/path.db`` or ``postgresql://…``;
    ``postgres_write`` is POSTGRES_WRITE (arrays, json, copy or executemany); ``replicas``
    DATABASE_REPLICAS (PostgreSQL only: SQLite has no standbys) and ``replicas_timeout_s`` its
    timeout; ``payload`` POSTGRES_PAYLOAD."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from sluicegate.repository.sqlite import SqliteRepository

        if replicas:
            raise ConfigurationError(SQLITE_HAS_NO_STANDBYS)
        return SqliteRepository(url.removeprefix("sqlite:///"))
    if scheme in ("postgresql", "postgres"):
        from sluicegate.repository.postgres import PostgresRepository

        repository: EventStore = PostgresRepository(
            url, postgres_write, replicas, replicas_timeout_s, payload
        )
        return repository
    raise ConfigurationError(f"DATABASE_URL: unsupported scheme {scheme!r} (sqlite or postgresql)")


def open_configured(settings: "Settings", url: str | None = None) -> EventStore:
    """The store at ``url`` (default DATABASE_URL) with every database setting: whichever process
    connects first (an agent, the API, a command) makes the tables the settings describe."""
    return open_repository(
        url or settings.resolved_database_url,
        settings.postgres_write,
        settings.database_replicas,
        settings.database_replicas_timeout_s,
        settings.postgres_payload,
    )


__all__ = ["EventStore", "Repository", "open_configured", "open_repository"]
