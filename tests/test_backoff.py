from sluicegate.backoff import Backoff


def test_delays_grow_are_capped_and_reset():
    backoff = Backoff(initial_s=0.1, maximum_s=1.0)
    delays = [backoff.next_delay_s() for _ in range(10)]
    assert 0.05 <= delays[0] <= 0.1
    assert all(0.5 <= delay <= 1.0 for delay in delays[5:])
    backoff.reset()
    assert backoff.next_delay_s() <= 0.1
