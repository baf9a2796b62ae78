"""``sluicegate replay`` as a user runs it (in-process): the summary, twice the same table, and
bad arguments exit 2 with a message."""

import pytest
import structlog
from typer.testing import CliRunner

from sluicegate.cli.main import app
from sluicegate.cli.replay_command import moment_ms
from sluicegate.events import Event
from sluicegate.repository.sqlite import SqliteRepository

runner = CliRunner()
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


@pytest.fixture(autouse=True)
def _logging_as_it_was():
    """The command configures logging on CliRunner's stderr, closed after each invoke: put the
    configuration back as it was, or a later test of this worker logs into a closed file."""
    before = structlog.get_config()
    yield
    structlog.configure(**before)


@pytest.fixture
def database(tmp_path, monkeypatch):
    path = tmp_path / "events.db"
    store = SqliteRepository(path)
    store.persist([Event("orders", f"e{n}", "{}", T0 + n * 1000) for n in range(10)])
    store.close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


def test_a_replay_into_a_second_sql_destination_twice_gives_the_same_table(
    database, tmp_path, monkeypatch
):
    copy = tmp_path / "copy.db"
    destinations = tmp_path / "destinations.toml"
    destinations.write_text(
        f'[destinations.sql]\nkind = "sql"\n[destinations.copy]\nkind = "sql"\n'
        f'url = "sqlite:///{copy}"\n[[routes]]\nqueues = ["*"]\ndestinations = ["sql"]\n'
    )
    monkeypatch.setenv("DESTINATIONS_FILE", str(destinations))
    args = ["replay", "orders", "--to", "copy", "--since", "2023-11-14T22:13:22Z", "--batch", "3"]
    first = runner.invoke(app, [*args, "--until", "2023-11-14T22:13:27"])
    assert first.exit_code == 0, first.output
    assert "replayed 5 events of orders (accepted 2023-11-14T22:13:22+00:00 to " in first.output
    assert "into copy: 5 new, 0 already there, in 2 batches" in first.output
    assert "orders is not routed to copy; replaying anyway" in first.output
    again = runner.invoke(app, [*args, "--until", "2023-11-14T22:13:27"])
    assert "into copy: 0 new, 5 already there, in 2 batches" in again.output
    replayed = SqliteRepository(copy)
    rows = [(e.event_id, e.accepted_at_ms) for e in replayed.page("orders", None, 100)]
    replayed.close()
    assert rows == [(f"e{n}", T0 + n * 1000) for n in range(2, 7)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "sql", "--since", "yesterday"], "is not a time"),
        (["--to", "sql", "--since", "2h", "--until", "3h"], "must be after --since"),
        (
            ["--to", "nowhere", "--since", "2h"],
            "unknown destination 'nowhere': the destinations are sql",
        ),
        (["--to", "sql", "--since", "2h", "--source", "kafka"], "kafka"),
        (["--since", "2h"], "--to"),
    ],
)
def test_bad_arguments_exit_2(database, args, message):
    result = runner.invoke(app, ["replay", "orders", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_times_are_iso_or_an_age():
    assert moment_ms("2023-11-14T22:13:20Z") == T0
    assert moment_ms("2023-11-14T22:13:20") == T0  # UTC when no zone is given
    assert moment_ms("90m", now_ms=T0) == T0 - 90 * 60_000


def test_a_replay_into_a_delta_destination_twice_gives_the_same_table(
    database, tmp_path, monkeypatch
):
    """The lake added after the fact: backfilled from the SQL store, then again (nothing new);
    the table read by the drill's own Delta reader."""
    from sluicegate.drill.delta_table import read_rows

    lake = (tmp_path / "lake").as_uri()
    destinations = tmp_path / "destinations.toml"
    destinations.write_text(
        f'[destinations.sql]\nkind = "sql"\n[destinations.lake]\nkind = "delta"\nuri = "{lake}"\n'
        "batch_max_events = 4\n"
    )
    monkeypatch.setenv("DESTINATIONS_FILE", str(destinations))
    args = ["replay", "orders", "--to", "lake", "--since", "2023-11-14T22:13:20Z"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "into lake: 10 new, 0 already there, in 3 batches" in first.output
    again = runner.invoke(app, args)
    assert "into lake: 0 new, 10 already there, in 3 batches" in again.output
    _, rows = read_rows(f"{lake}/orders", ["event_id", "accepted_at"])
    assert sorted(event_id for event_id, _ in rows) == sorted(f"e{n}" for n in range(10))
