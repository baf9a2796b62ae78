import re
from pathlib import Path

import pytest

from sluicegate.cli.settings_report import environment_variables
from sluicegate.errors import ConfigurationError
from sluicegate.settings import Settings, load_settings, parse_size
from tests.in_process import run_in_process


def test_defaults_are_embedded(monkeypatch):
    for name in ("REDIS_URL", "REDIS_HOST", "DATABASE_URL", "SQLITE_FILEPATH"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.resolved_redis_url is None
    assert settings.resolved_database_url == "sqlite:///.sluicegate/events.db"
    assert settings.shutdown_deadline_s < 10  # below Docker's default stop timeout


def test_original_variable_names_are_read(monkeypatch):
    monkeypatch.setenv("QUEUE_BATCH_SIZE", "50")
    monkeypatch.setenv("QUEUE_BATCH_TIMEOUT", "0.25")
    monkeypatch.setenv("QUEUE_AGENT_WORKER_TTL", "9")
    monkeypatch.setenv("REDIS_HOST", "redis.internal")
    monkeypatch.setenv("REDIS_PORT", "6380")
    settings = load_settings()
    assert settings.queue_batch_size == 50
    assert settings.queue_batch_timeout_s == 0.25
    assert settings.queue_agent_worker_ttl_s == 9
    assert settings.resolved_redis_url == "redis://redis.internal:6380/0"


def test_redis_url_wins_over_host(monkeypatch):
    monkeypatch.setenv("REDIS_HOST", "ignored")
    monkeypatch.setenv("REDIS_URL", "redis://chosen:1/2")
    assert load_settings().resolved_redis_url == "redis://chosen:1/2"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("QUEUE_BATCH_SIZE", "lots", "QUEUE_BATCH_SIZE"),
        ("QUEUE_BATCH_SIZE", "0", "greater than or equal to 1"),
        ("QUEUE_BATCH_TIMEOUT", "5000", "less than or equal to 60"),
        ("DURABILITY", "sometimes", "DURABILITY"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("QUEUE_AGENT_WORKER_TTL", "1", "more than twice QUEUE_BATCH_TIMEOUT"),
        ("QUEUE_BATCH_LINGER", "2", "less than or equal to 1"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=expected):
        load_settings()


def test_cli_exits_2_with_a_clear_message_on_bad_settings(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "QUEUE_BATCH_SIZE": "lots", "HOME": str(tmp_path)}
    result = run_in_process(env, "status")
    assert result.returncode == 2
    assert "QUEUE_BATCH_SIZE" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [("INFO", "info"), ("Warning", "warning"), ("warn", "warning"), ("WARN", "warning")],
)
def test_log_levels_are_read_as_people_type_them(monkeypatch, value, expected):
    monkeypatch.setenv("LOG_LEVEL", value)
    assert load_settings().log_level == expected


def test_durability_is_case_insensitive_and_durations_are_plain_seconds(monkeypatch):
    monkeypatch.setenv("DURABILITY", "AOF")
    monkeypatch.setenv("SHUTDOWN_DEADLINE", "3")
    settings = load_settings()
    assert (settings.durability, settings.shutdown_deadline_s) == ("aof", 3.0)


def test_every_setting_says_what_it_does():
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} has no description="


def _readme_variables() -> list[str]:
    """Every variable named in the first column of the README's configuration table."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])]


def test_the_readme_table_and_the_settings_agree():
    documented = _readme_variables()
    variables = {name: environment_variables(name)[0] for name in Settings.model_fields}
    missing = sorted(set(variables.values()) - set(documented))
    unknown = sorted(set(documented) - set(variables.values()))
    assert not missing, f"settings without a row in README's configuration table: {missing}"
    assert not unknown, f"README's configuration table names variables no setting reads: {unknown}"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("auto", None),
        ("AUTO", None),
        ("1048576", 1048576),
        ("512mb", 512 * 1024**2),
        ("2gb", 2 * 1024**3),
    ],
)
def test_embedded_maxmemory_takes_redis_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["0", "lots", "-5mb", "1.5gb"])
def test_a_maxmemory_that_is_no_size_is_refused_naming_the_variable(text):
    with pytest.raises(ConfigurationError, match="EMBEDDED_REDIS_MAXMEMORY"):
        load_settings(embedded_redis_maxmemory=text)


def test_high_water_is_a_fraction():
    with pytest.raises(ConfigurationError, match="REDIS_MEMORY_HIGH_WATER"):
        load_settings(redis_memory_high_water=1.5)


def test_variables_named_like_their_field_set_it_without_an_alias(monkeypatch):
    for name, value in {"PORT": "1234", "QUEUE_BATCH_SIZE": "7", "LOG_LEVEL": "DEBUG"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("dead_letter_after", "2")  # any case, as before
    monkeypatch.setenv("QUEUE_BATCH_TIMEOUT", "0.3")  # named otherwise: its alias
    settings = load_settings()
    assert (settings.port, settings.queue_batch_size, settings.log_level) == (1234, 7, "debug")
    assert (settings.dead_letter_after, settings.queue_batch_timeout_s) == (2, 0.3)


@pytest.mark.parametrize(
    ("variables", "consumers"),
    [
        ({"DATABASE_URL": "postgresql://db/events"}, 2),
        ({"DATABASE_URL": "postgres://db/events", "QUEUE_CONSUMERS": "1"}, 1),
        ({"DATABASE_URL": "postgresql://db/events", "DESTINATIONS_FILE": "/d.toml"}, 1),
        ({"DATABASE_URL": "sqlite:///events.db"}, 1),
        ({}, 1),
    ],
)
def test_two_consumers_per_queue_by_default_on_postgres_only(monkeypatch, variables, consumers):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert load_settings().queue_consumers == consumers
