"""``python -m sluicegate.drill``: the drill without the rest of the CLI."""

import typer

from sluicegate.drill.command import drill


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(drill)
    app()


main()
