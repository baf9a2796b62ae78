"""Usage errors exit 2 before anything starts."""

import re

import pytest
import typer
from typer.testing import CliRunner

from sluicegate.drill.command import drill

app = typer.Typer()
app.command()(drill)

DEPLOYMENT = ["--api-url", "http://x", "--redis-url", "redis://x", "--database-url", "sqlite:///x"]


def flat(text: str) -> str:
    """The output without rich's box drawing and line wrapping."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--events", "0"], "--events"),
        (["--batch", "1001"], "--batch"),
        (["--concurrency", "0"], "--concurrency"),
        (["--stops", "-1"], "--stops"),
        (["--fault", "nuke"], "--fault"),
        (["--stop-cmd", "true"], "need --api-url"),
        (["--api-url", "http://x"], "--redis-url and --database-url"),
        ([*DEPLOYMENT, "--fault", "redis-restart"], "needs the system the drill starts"),
        ([*DEPLOYMENT, "--fault", "term"], "needs --stop-cmd"),
    ],
)
def test_bad_usage_exits_2(args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in flat(result.output)
