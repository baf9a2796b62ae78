"""Configuration that can never work stops a command at once (exit 2, one line), never a fork
storm; issue 9's two cases reproduced: SQLite under a regular file, PostgreSQL without psycopg."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sluicegate import preflight
from sluicegate.errors import ConfigurationError
from sluicegate.settings import Settings
from tests.in_process import run_in_process
from tests.processes import run_sluicegate

NO_REDIS = "redis://127.0.0.1:1/0"  # nothing listens: the checks come before any connection


def test_sqlite_under_a_regular_file_names_the_variable(tmp_path):
    (tmp_path / "afile").write_text("x")
    settings = Settings(sqlite_filepath=tmp_path / "afile" / "events.db")
    with pytest.raises(ConfigurationError, match=r"^SQLITE_FILEPATH: cannot make the folder"):
        preflight.check_database(settings)


def test_sqlite_folder_is_made_and_a_directory_is_not_a_file(tmp_path):
    preflight.check_database(Settings(data_dir=tmp_path / "new" / "data"))
    assert (tmp_path / "new" / "data").is_dir()
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(ConfigurationError, match=r"DATABASE_URL: .* is not a file"):
        preflight.check_database(Settings(database_url=f"sqlite:///{tmp_path}/dir.db"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_sqlite_folder_without_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ConfigurationError, match="not writable"):
        preflight.check_database(Settings(sqlite_filepath=locked / "events.db"))


def test_postgres_without_its_driver_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now raises ImportError
    assert not preflight.importable("psycopg")
    with pytest.raises(ConfigurationError, match=r"pip install 'sluicegate\[postgres\]'"):
        preflight.check_database(Settings(database_url="postgresql://db/x"))


def test_a_sql_destination_s_own_url_is_checked_like_database_url(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "d.toml").write_text(
        f"[destinations.copy]\nkind = 'sql'\nurl = 'sqlite:///{tmp_path}/afile/x.db'\n"
    )
    settings = Settings(destinations_file=tmp_path / "d.toml")
    with pytest.raises(ConfigurationError, match=r"\[destinations.copy\] url: cannot make"):
        preflight.check_destinations(settings)
    preflight.check_destinations(Settings())  # no file: nothing to check


def test_postgres_with_its_driver_passes_without_connecting():
    preflight.check_database(Settings(database_url="postgresql://nowhere.invalid/x"))


@pytest.mark.parametrize(
    ("check", "settings", "expected"),
    [
        (
            preflight.check_database,
            Settings(database_url="mysql://db/x"),
            "DATABASE_URL: unsupported database scheme",
        ),
        (
            preflight.check_redis,
            Settings(redis_url="http://cache:6379"),
            "REDIS_URL: unsupported scheme 'http'",
        ),
    ],
)
def test_unknown_schemes_name_the_variable(check, settings, expected):
    with pytest.raises(ConfigurationError, match=expected):
        check(settings)


def _without_psycopg(tmp_path: Path) -> str:
    """A folder that shadows psycopg with a module that cannot be imported (no postgres extra)."""
    package = tmp_path / "no-psycopg" / "psycopg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n"
    )
    return str(package.parent)


def _fork_storm_case(tmp_path: Path, case: str) -> tuple[dict[str, str], str]:
    """The environment of one of issue 9's cases, and what the one line on stderr must say."""
    (tmp_path / "afile").write_text("x")
    env = {**os.environ, "REDIS_URL": NO_REDIS, "SLUICEGATE_DATA_DIR": str(tmp_path / "data")}
    if case == "sqlite":
        env["SQLITE_FILEPATH"] = str(tmp_path / "afile" / "events.db")
        return env, "SQLITE_FILEPATH: cannot make the folder"
    if case == "destinations":
        (tmp_path / "d.toml").write_text("[destinations.lake]\nkind = 'parquet'\n")
        env["DESTINATIONS_FILE"] = str(tmp_path / "d.toml")
        return env, "[destinations.lake]: kind must be one of sql, delta"
    env.update(DATABASE_URL="postgresql://db/x", PYTHONPATH=_without_psycopg(tmp_path))
    return env, "pip install 'sluicegate[postgres]'"


def _exits_2_with_one_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert expected in line
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("command", "case"),
    [
        ("agent", "postgres"),
        ("up", "postgres"),
        ("status", "sqlite"),
        ("agent", "destinations"),
    ],
)
def test_fork_storm_cases_exit_2_at_once(tmp_path, monkeypatch, command, case):
    """In-process, through the console script's entry point; psycopg hidden as the shadowing
    folder hides it from a process (the agent as a process: the test below)."""
    env, expected = _fork_storm_case(tmp_path, case)
    if case == "postgres":
        monkeypatch.setitem(sys.modules, "psycopg", None)
    _exits_2_with_one_line(run_in_process(env, command), expected)


@pytest.mark.parametrize("case", ["sqlite", "postgres"])
def test_an_agent_process_that_can_never_work_ends_by_itself_with_exit_2(tmp_path, case):
    env, expected = _fork_storm_case(tmp_path, case)
    result = run_sluicegate(env, "agent")  # it ends by itself: no wait, no retry, no fork
    _exits_2_with_one_line(result, expected)


@pytest.mark.parametrize(
    ("command", "flag"),
    [(("api",), None), (("dlq", "list", "q"), None), (("drill", "--stops", "0"), "db")],
)
def test_every_command_checks_what_it_uses(tmp_path, command, flag):
    env = {**os.environ, "SLUICEGATE_DATA_DIR": str(tmp_path)}
    if flag:
        result = run_in_process(env, *command, "--database-url", "mysql://db/x")
        expected = "--database-url: unsupported database scheme"
    else:
        result = run_in_process({**env, "REDIS_URL": "http://cache:6379"}, *command)
        expected = "REDIS_URL: unsupported scheme 'http'"
    assert result.returncode == 2
    assert expected in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
