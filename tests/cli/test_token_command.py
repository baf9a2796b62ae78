"""``sluicegate token create``: the token once, an entry that matches it; bad input exits 2."""

import re
from pathlib import Path

from typer.testing import CliRunner

from sluicegate.api.auth.tokens import load_tokens
from sluicegate.cli.main import app

runner = CliRunner()


def test_create_prints_a_token_and_its_entry(tmp_path: Path) -> None:
    result = runner.invoke(app, ["token", "create", "billing", "--queues", "orders, billing-*"])

    assert result.exit_code == 0, result.output
    [token] = re.findall(r"sgt_[A-Za-z0-9_-]+", result.output)
    entry = result.output[result.output.index("[tokens.billing]") :]
    assert token not in entry
    path = tmp_path / "tokens.toml"
    path.write_text(entry)
    found = load_tokens(path).match(token)
    assert found is not None
    assert (found.name, found.queues) == ("billing", ("orders", "billing-*"))


def test_bad_name_or_patterns_exit_2() -> None:
    for args in (["a.b", "--queues", "x"], ["ok", "--queues", "Orders"], ["ok", "--queues", ","]):
        result = runner.invoke(app, ["token", "create", *args])
        assert result.exit_code == 2, args
    assert runner.invoke(app, ["token", "create", "ok"]).exit_code == 2  # --queues is required
