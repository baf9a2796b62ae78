"""The command line as a user runs it: exit codes, messages, and what status and dlq print."""

import json

import pytest

from sluicegate.queue.reader import QueueReader
from tests.in_process import run_in_process
from tests.loading import enqueue, make_events
from tests.processes import run_sluicegate


def test_status_reports_where_the_events_are(subprocess_env, settings, redis_client):
    ids = enqueue(settings.redis_url, make_events("orders", 7))
    QueueReader(redis_client, "orders", "c1").read_new(2, block_ms=10)
    result = run_in_process(subprocess_env, "status", "--json")
    assert result.returncode == 0, result.stderr
    [orders] = json.loads(result.stdout)
    assert (orders["queue"], orders["queued"], orders["in_flight"]) == ("orders", 5, 2)
    assert (orders["persisted"], orders["consumers"], orders["accepted"]) == (0, [], 7)
    assert orders["conservation"]["holds"]
    assert len(ids) == 7
    table = run_in_process(subprocess_env, "status")
    assert "orders" in table.stdout


def test_dlq_lists_and_replays(subprocess_env, settings, redis_client):
    enqueue(settings.redis_url, make_events("orders", 2))
    reader = QueueReader(redis_client, "orders", "c1")
    first, _ = reader.read_new(2, block_ms=10)
    reader.dead_letter(first, "payload refused: no customer", deliveries=5)
    listed = run_sluicegate({**subprocess_env, "COLUMNS": "200"}, "dlq", "list", "orders")
    assert listed.returncode == 0, listed.stderr
    assert first.event.event_id in listed.stdout
    assert "payload refused: no customer" in listed.stdout
    replayed = run_in_process(subprocess_env, "dlq", "replay", "orders", "--all")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 of 1" in replayed.stdout
    assert redis_client.xlen("sluicegate:{orders}:dead") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dlq", "replay", "orders"), "either --entry"),
        (("status", "--bogus"), "No such option"),
        (("nonsense",), "No such command"),
    ],
)
def test_usage_errors_exit_2(subprocess_env, args, message):
    result = run_in_process(subprocess_env, *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_commands_that_need_redis_say_so(subprocess_env, tmp_path):
    env = {**subprocess_env, "REDIS_URL": "", "SLUICEGATE_DATA_DIR": str(tmp_path / "empty")}
    result = run_in_process(env, "status")
    assert result.returncode == 2
    assert "REDIS_URL is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_shows_every_setting_masked(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": "postgresql://app:hunter2@db/x",
        "LOG_LEVEL": "WARN",
    }
    result = run_in_process(env, "config", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["variable"]: row for row in json.loads(result.stdout)}
    assert rows["LOG_LEVEL"]["value"] == "warning"
    assert rows["DATABASE_URL"]["source"] == "environment"
    assert rows["QUEUE_BATCH_SIZE"]["source"] == "default"
    table = run_sluicegate({**env, "COLUMNS": "200"}, "config")
    assert "CONSUMER_CLASS" in table.stdout
    assert "hunter2" not in result.stdout + table.stdout
