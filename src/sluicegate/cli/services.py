"""``sluicegate agent`` and ``sluicegate api``: the long-running parts, run without typer.

``sluicegate up``, the drill and deployments start them as ``sluicegate agent`` or
``sluicegate api`` with no option; ``sluicegate.cli.main`` runs that form here, before typer,
rich and every other command's module are imported (they were a fifth of an agent's CPU at
start). Each imports only its own part: the agent never loads FastAPI, the API never the agent.
"""

import sys
from collections.abc import Callable
from typing import NoReturn

from sluicegate.cli.common import REDIS_AND_DATABASE, REDIS_ONLY, fail, read_settings, redis_url
from sluicegate.errors import ConfigurationError


def agent() -> NoReturn:
    """Run the agent until it has drained (SIGTERM) or been told to stop now."""
    from sluicegate.worker.agent import Agent, leave

    settings = read_settings(REDIS_AND_DATABASE)
    try:
        running = Agent(settings, redis_url(settings))
    except ConfigurationError as error:  # DATABASE_REPLICAS more than the standbys there
        fail(str(error))
    leave(running.run())


def api() -> NoReturn:
    """Serve the ingest API on HOST:PORT until it has drained."""
    from sluicegate.api.serving.server import serve

    settings = read_settings(REDIS_ONLY)
    sys.exit(serve(settings, redis_url(settings)))


SERVICES: dict[str, Callable[[], NoReturn]] = {"agent": agent, "api": api}


def service_for(args: list[str]) -> Callable[[], NoReturn] | None:
    """The service that ``args`` name alone (``["agent"]``), else None: typer parses the rest,
    ``--help`` included."""
    return SERVICES.get(args[0]) if len(args) == 1 else None
