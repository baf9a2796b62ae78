from sluicegate.backoff import Backoff
from sluicegate.events import now_ms
from sluicegate.queue.crash_record import (
    backing_off,
    clear,
    crash_records,
    describe,
    record_crash,
)


def test_crashes_in_a_row_push_the_retry_out_and_a_traceback_is_logged_once(redis_client):
    backoff = Backoff(1.0, 60.0)
    error = describe(FileExistsError(17, "File exists", "/srv/afile"))
    first = record_crash(redis_client, "q", 42, error, backoff)
    second = record_crash(redis_client, "q", 43, error, backoff)
    other = record_crash(redis_client, "q", 44, "ValueError: other", backoff)
    assert (first.attempt, second.attempt, other.attempt) == (1, 2, 3)
    assert 0.5 <= first.retry_in_s <= 1.0
    assert 1.0 <= second.retry_in_s <= 2.0
    assert (first.log_traceback, second.log_traceback, other.log_traceback) == (True, False, True)
    assert backing_off(redis_client, ["q", "healthy"]) == {"q"}
    record = crash_records(redis_client, ["q", "healthy"])["q"]
    assert (record.error, record.attempt) == ("ValueError: other", 3)
    assert record.retry_at_ms > now_ms()
    clear(redis_client, "q")
    assert crash_records(redis_client, ["q"]) == {}
    assert backing_off(redis_client, []) == set()
