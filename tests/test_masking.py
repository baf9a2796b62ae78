import pytest

from sluicegate.masking import mask_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:s3cret@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://:s3cret@host/0", "redis://:***@host/0"),
        ("rediss://host:6380/0", "rediss://host:6380/0"),
        ("sqlite:///.sluicegate/events.db", "sqlite:///.sluicegate/events.db"),
        ("sqlite:////abs/events.db", "sqlite:////abs/events.db"),
        (
            "postgresql://app:pw@db/x?sslmode=require&password=pw2",
            "postgresql://app:***@db/x?sslmode=require&password=***",
        ),
    ],
)
def test_passwords_are_masked_and_the_rest_is_kept(url, shown):
    assert mask_url(url) == shown


def test_an_unparsable_url_shows_nothing():
    assert mask_url("redis://[::1:6379") == "***"
