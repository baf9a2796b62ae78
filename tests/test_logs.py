import io

import orjson

from sluicegate.logs import Throttle, configure_logging, get_logger


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


def test_log_format_json_console_and_auto():
    """LOG_FORMAT: JSON lines for machines, readable lines for people, auto by terminal."""
    machine = io.StringIO()
    configure_logging("info", machine, log_format="json")
    get_logger(pid=7).info("stop-node-process", queue="q")
    line = orjson.loads(machine.getvalue())
    assert (line["command"], line["payload"]) == ("stop-node-process", {"pid": 7, "queue": "q"})

    person = io.StringIO()
    configure_logging("info", person, log_format="console")
    get_logger(pid=7).info("stop-node-process", queue="q")
    text = person.getvalue()
    assert "stop-node-process" in text
    assert "queue=q" in text
    assert not text.startswith("{")

    auto = io.StringIO()  # not a terminal: JSON
    configure_logging("info", auto, log_format="auto")
    get_logger().info("agent-started")
    assert orjson.loads(auto.getvalue())["command"] == "agent-started"
    configure_logging("info")


def test_the_console_format_prints_an_exception_with_its_traceback():
    """structlog loads without rich (sluicegate.logs): the console format still shows the
    exception, as a plain Python traceback."""
    person = io.StringIO()
    configure_logging("info", person, log_format="console")
    try:
        raise ValueError("the database said no")
    except ValueError:
        get_logger().exception("visit-crashed")
    configure_logging("info")
    text = person.getvalue()
    assert "visit-crashed" in text
    assert "Traceback (most recent call last)" in text
    assert "ValueError: the database said no" in text
