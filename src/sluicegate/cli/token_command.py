"""``sluicegate token create``: a new API token, shown once, and the tokens-file entry to paste."""

from typing import Annotated

import typer

from sluicegate.errors import ConfigurationError

EXIT_USAGE = 2

token_app = typer.Typer(
    help="API bearer tokens: see API_TOKENS_FILE in the README.", no_args_is_help=True
)


@token_app.command("create")
def create(
    name: Annotated[
        str, typer.Argument(help="The token's name: logged and a metrics label, never secret.")
    ],
    queues: Annotated[
        str,
        typer.Option(help="Comma-separated glob patterns of the queues it may post to: 'a,b-*'."),
    ],
) -> None:
    """Print a new random token (once: only its SHA-256 is kept) and its API_TOKENS_FILE entry."""
    # Here, not at the top: the tokens module lives in sluicegate.api, which imports FastAPI.
    from sluicegate.api.auth.tokens import check_name, new_token, parse_patterns, toml_block

    try:
        patterns = parse_patterns(queues)
        check_name(name)
    except ConfigurationError as error:
        typer.echo(f"sluicegate: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    token = new_token()
    typer.echo(
        f"Token '{name}' (shown only now: give it to the client; only its SHA-256 is kept):\n\n"
        f"    {token}\n\n"
        "Add this to API_TOKENS_FILE, then send the API SIGHUP (or restart it):\n"
    )
    typer.echo(toml_block(name, token, patterns), nl=False)
