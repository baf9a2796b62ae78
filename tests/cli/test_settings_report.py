from sluicegate.cli.settings_report import report
from sluicegate.settings import Settings


def _rows(settings: Settings, environ: dict[str, str]) -> dict[str, tuple[object, str]]:
    return {row.variable: (row.value, row.source) for row in report(settings, environ)}


def test_every_setting_is_reported_with_its_variable_and_source():
    settings = Settings(queue_batch_size=50)
    rows = _rows(settings, {"QUEUE_BATCH_SIZE": "50"})
    assert len(rows) == len(Settings.model_fields)
    assert rows["QUEUE_BATCH_SIZE"] == (50, "environment")
    assert rows["QUEUE_POLL_FREQ"] == (1.0, "default")
    assert rows["DATABASE_URL"] == ("sqlite:///.sluicegate/events.db", "derived")
    assert rows["SQLITE_FILEPATH"] == (".sluicegate/events.db", "derived")
    assert rows["REDIS_URL"] == (None, "default")


def test_urls_are_masked_and_redis_host_derives_the_url():
    settings = Settings(
        database_url="postgresql://app:hunter2@db/x", redis_host="cache", redis_port=6380
    )
    rows = _rows(settings, {"DATABASE_URL": "…", "REDIS_HOST": "cache", "redis_port": "6380"})
    assert rows["DATABASE_URL"] == ("postgresql://app:***@db/x", "environment")
    assert rows["REDIS_URL"] == ("redis://cache:6380/0", "derived")
    assert rows["REDIS_PORT"] == (6380, "environment")
    assert rows["SQLITE_FILEPATH"] == (None, "default")  # unused beside DATABASE_URL
    assert "hunter2" not in repr(report(settings, {}))
