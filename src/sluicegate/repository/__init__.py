"""Repositories, chosen by the database URL's scheme."""

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from sluicegate.errors import ConfigurationError
from sluicegate.repository.base import Repository

if TYPE_CHECKING:
    from sluicegate.repository.postgres_writes import WriteStrategy


def open_repository(url: str, postgres_write: "WriteStrategy" = "copy") -> Repository:
    """``sqlite:///relative/path.db``, ``sqlite:////abs/path.db`` or ``postgresql://…``;
    ``postgres_write`` is POSTGRES_WRITE (copy or executemany)."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from sluicegate.repository.sqlite import SqliteRepository

        return SqliteRepository(url.removeprefix("sqlite:///"))
    if scheme in ("postgresql", "postgres"):
        from sluicegate.repository.postgres import PostgresRepository

        repository: Repository = PostgresRepository(url, postgres_write)
        return repository
    raise ConfigurationError(f"DATABASE_URL: unsupported scheme {scheme!r} (sqlite or postgresql)")


__all__ = ["Repository", "open_repository"]
