"""Repositories, chosen by the database URL's scheme."""

from urllib.parse import urlparse

from sluicegate.errors import ConfigurationError
from sluicegate.repository.base import Repository


def open_repository(url: str) -> Repository:
    """``sqlite:///relative/path.db``, ``sqlite:////abs/path.db`` or ``postgresql://…``."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from sluicegate.repository.sqlite import SqliteRepository

        return SqliteRepository(url.removeprefix("sqlite:///"))
    if scheme in ("postgresql", "postgres"):
        from sluicegate.repository.postgres import PostgresRepository

        repository: Repository = PostgresRepository(url)
        return repository
    raise ConfigurationError(f"DATABASE_URL: unsupported scheme {scheme!r} (sqlite or postgresql)")


__all__ = ["Repository", "open_repository"]
