"""The drill's look at the agents' /metrics: names, gauges after the drain, counters bounded."""

from sluicegate.drill.metrics_check import AGENT_SAMPLES, Scrape, check_scrapes

URL = "http://127.0.0.1:9464/metrics"


def samples(**values: dict[str, float]) -> dict[str, dict[str, float]]:
    every_name: dict[str, dict[str, float]] = {name: {} for name in AGENT_SAMPLES}
    return every_name | {name: by_queue for name, by_queue in values.items()}


def test_a_drained_drill_with_every_name_passes() -> None:
    scrape = Scrape(URL, samples(sluicegate_events_persisted_total={"q": 40.0, "other": 9.0}))
    check = check_scrapes([scrape], ["q"], persisted_rows=100, drained=True)
    assert check.problems == []
    assert check.persisted_counted == 40  # only the drill's queues


def test_a_missing_name_and_a_silent_agent_are_problems() -> None:
    partial = samples()
    del partial["sluicegate_queue_dead"]
    check = check_scrapes(
        [Scrape(URL, partial), Scrape("http://b/metrics", None, "refused")],
        ["q"],
        persisted_rows=0,
        drained=True,
    )
    assert check.problems == [
        f"{URL}: missing sluicegate_queue_dead",
        "http://b/metrics: no metrics (refused)",
    ]


def test_work_left_in_the_gauges_after_the_drain_is_a_problem() -> None:
    scrape = Scrape(URL, samples(sluicegate_queue_in_flight={"q": 3.0, "someone-else": 7.0}))
    assert check_scrapes([scrape], ["q"], 0, drained=True).problems == [
        f"{URL}: sluicegate_queue_in_flight{{queue='q'}} is 3 after the drain"
    ]
    assert check_scrapes([scrape], ["q"], 0, drained=False).problems == []  # not judged


def test_counting_more_persisted_than_the_database_holds_is_a_problem() -> None:
    scrapes = [
        Scrape(url, samples(sluicegate_events_persisted_total={"q": 60.0}))
        for url in (URL, "http://b/metrics")
    ]
    check = check_scrapes(scrapes, ["q"], persisted_rows=100, drained=True)
    assert check.problems == ["the agents counted 120 events persisted, the database holds 100"]
