"""The ``sluicegate`` command: ``main`` (every subcommand's typer definition) and the modules
behind the subcommands that only it uses (``supervisor`` for ``up``, ``status``,
``settings_report`` for ``config``, ``token_command`` for ``token``, ``services`` for ``agent``
and ``api``). ``sluicegate.cli:main`` stays the console script's entry point: ``agent`` and
``api`` alone start without importing typer (``services``), any other command through it."""

import sys

from sluicegate.cli.common import fail
from sluicegate.cli.services import service_for
from sluicegate.errors import ConfigurationError


def main() -> None:
    """The console script and ``python -m sluicegate``."""
    service = service_for(sys.argv[1:])
    try:
        if service is not None:
            service()
        from sluicegate.cli.main import app  # typer, rich and every command

        app()
    except ConfigurationError as error:
        fail(str(error))


__all__ = ["main"]
