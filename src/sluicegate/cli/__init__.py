"""The ``sluicegate`` command: ``main`` (every subcommand's typer definition) and the modules
behind the subcommands that only it uses (``supervisor`` for ``up``, ``status``,
``settings_report`` for ``config``, ``token_command`` for ``token``). ``sluicegate.cli:main`` stays
the console script's entry point."""

from sluicegate.cli.main import app, main

__all__ = ["app", "main"]
