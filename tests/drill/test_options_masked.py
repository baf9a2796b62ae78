"""The drill's JSON report repeats its options: URLs in it carry no password."""

from sluicegate.drill.runner import DrillOptions


def test_report_options_mask_passwords() -> None:
    options = DrillOptions(
        api_url="http://api:8000",
        redis_url="rediss://sluicegate:hunter2@redis:6380/0",
        database_url="postgresql://app:s3cret@db/x?sslmode=verify-full",
    )
    shown = options.as_json()
    assert shown["redis_url"] == "rediss://sluicegate:***@redis:6380/0"
    assert shown["database_url"] == "postgresql://app:***@db/x?sslmode=verify-full"
    assert "hunter2" not in str(shown)
    assert "s3cret" not in str(shown)
    assert DrillOptions().as_json()["redis_url"] is None
