"""What every ``sluicegate`` command needs: settings read and checked, Redis, the exit codes."""

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

import redis

from sluicegate import preflight
from sluicegate.cli.supervisor import embedded_url_file
from sluicegate.errors import ConfigurationError
from sluicegate.logs import configure_logging
from sluicegate.queue.client import sync_client
from sluicegate.queue.topology import Topology
from sluicegate.settings import Settings, load_settings

EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Say why on stderr and exit with ``code`` (a plain SystemExit: ``agent`` and ``api`` run
    without typer, and typer lets it through as the exit code)."""
    print(f"sluicegate: {message}", file=sys.stderr)
    sys.exit(code)


Check = Callable[[Settings], None]
REDIS_ONLY: tuple[Check, ...] = (preflight.check_redis,)
REDIS_AND_DATABASE: tuple[Check, ...] = (
    preflight.check_redis,
    preflight.check_database,
    preflight.check_destinations,
)
DATABASE_ONLY: tuple[Check, ...] = (preflight.check_database,)


def read_settings(checks: Sequence[Check] = ()) -> Settings:
    """Read the settings and run ``checks`` (preflight): exit 2 at once on what can never work."""
    try:
        settings = load_settings()
        for check in checks:
            check(settings)
    except ConfigurationError as error:
        fail(str(error))
    configure_logging(settings.log_level, log_format=settings.log_format)
    return settings


def redis_url(settings: Settings) -> str:
    """REDIS_URL, else the embedded server that a running ``sluicegate up`` wrote down."""
    if settings.resolved_redis_url:
        return settings.resolved_redis_url
    url_file = embedded_url_file(settings)
    if url_file.exists():
        return url_file.read_text().strip()
    fail(
        "REDIS_URL is not set and no `sluicegate up` is running in "
        f"{settings.data_dir}/ (start one, or set REDIS_URL)"
    )


@contextmanager
def redis_client(settings: Settings) -> Iterator["redis.Redis"]:
    try:
        client = sync_client(
            redis_url(settings), cluster=settings.redis_cluster, topology=Topology.of(settings)
        )
    except redis.RedisError as error:
        fail(f"Redis is unreachable: {error}", 1)
    try:
        yield client
    finally:
        client.close()
