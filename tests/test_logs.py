from sluicegate.logs import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_throttle_says_once_per_period_and_counts_what_it_held_back():
    clock = Clock()
    throttle = Throttle(30.0, clock)
    assert throttle.allow("db") == 0
    assert throttle.allow("db") is None
    assert throttle.allow("redis") == 0  # keys are independent
    clock.now += 29.9
    assert throttle.allow("db") is None
    clock.now += 0.1
    assert throttle.allow("db") == 2
