"""``sluicegate events show|list|delete``, ``maintain`` and ``migrate`` as a user runs them (the
console script's entry point, in-process)."""

import json

import pytest

from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.repository.sqlite import SqliteRepository
from sluicegate.retention import DAY_MS
from tests.in_process import run_in_process
from tests.loading import enqueue, make_events


def test_show_delete_and_show_again(subprocess_env, settings):
    stored, queued = make_events("orders", 2, {"secret": "s3cr3t"})
    repository = SqliteRepository(settings.sqlite_filepath)
    repository.persist([stored])
    enqueue(settings.redis_url, [queued])

    def show(event_id: str) -> dict[str, object]:
        result = run_in_process(subprocess_env, "events", "show", "orders", event_id)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert show(stored.event_id)["state"] == "persisted"
    assert show(queued.event_id)["state"] == "queued"
    assert show(new_event_id())["state"] == "never_seen"
    deleted = run_in_process(
        subprocess_env, "events", "delete", "--queue", "orders", "--id", stored.event_id,
        "--id", queued.event_id, "--by", "dpo@example.com",
    )  # fmt: skip
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted 1 stored event(s) from orders" in deleted.stdout
    log = deleted.stdout + deleted.stderr
    assert "events-deleted" in log
    assert "dpo@example.com" in log
    assert "s3cr3t" not in log
    answer = show(queued.event_id)
    assert (answer["state"], answer["deleted_by"]) == ("deleted", "dpo@example.com")
    repository.close()


def test_maintain_expires_and_list_pages(subprocess_env, settings):
    repository = SqliteRepository(settings.sqlite_filepath)
    old = Event("orders", new_event_id(), "{}", now_ms() - 3 * DAY_MS)
    repository.persist([old, *make_events("orders", 3)])
    enqueue(settings.redis_url, make_events("orders", 1))  # the queue is known to Redis
    result = run_in_process({**subprocess_env, "RETENTION": "2d"}, "maintain")
    assert result.returncode == 0, result.stderr
    assert "expired 1 row(s)" in result.stdout
    status = run_in_process(subprocess_env, "status", "--json")
    [orders] = json.loads(status.stdout)
    assert orders["expired_by_retention"] == 1
    assert orders["oldest_stored_at_ms"] > old.accepted_at_ms
    first = run_in_process(subprocess_env, "events", "list", "orders", "--limit", "2")
    page = json.loads(first.stdout)
    assert len(page["events"]) == 2
    assert page["next"]
    second = run_in_process(
        subprocess_env, "events", "list", "orders", "--limit", "2", "--after", page["next"]
    )
    rest = json.loads(second.stdout)
    assert len(rest["events"]) == 1
    assert rest["next"] is None
    assert run_in_process(subprocess_env, "migrate").stdout.startswith("the database is up to")
    repository.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("events", "delete", "--queue", "orders"), "either --id"),
        (("events", "list", "orders", "--after", "bogus"), "not one this server gave"),
    ],
)
def test_usage_errors_exit_2(subprocess_env, args, message):
    result = run_in_process(subprocess_env, *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_bad_retention_exits_2(subprocess_env):
    result = run_in_process({**subprocess_env, "QUEUE_RETENTION": "clicks:7 weeks"}, "maintain")
    assert result.returncode == 2
    assert "QUEUE_RETENTION" in result.stderr
