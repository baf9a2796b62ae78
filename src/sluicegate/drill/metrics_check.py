"""The agents' ``/metrics`` after the drill: every promised name there, and values that agree
with what the drill counted itself.

Read once the queues have drained and before the final stop, from every agent the drill started
(a deployment's agents are not the drill's to find). Counters start at zero with each agent
process, and the drill restarts agents, so a counter is checked as a bound (never more rows than
the database holds), the queue gauges exactly (nothing queued, nothing in flight, no lag).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

# Every sample name the agent promises (issue 10), as a scrape shows them.
AGENT_SAMPLES = (
    "sluicegate_events_persisted_total",
    "sluicegate_redeliveries_absorbed_total",
    "sluicegate_events_dead_lettered_total",
    "sluicegate_events_reclaimed_total",
    "sluicegate_persist_batch_seconds_bucket",
    "sluicegate_persist_batch_size_bucket",
    "sluicegate_end_to_end_latency_seconds_bucket",
    "sluicegate_queue_depth",
    "sluicegate_queue_in_flight",
    "sluicegate_queue_dead",
    "sluicegate_queue_oldest_pending_age_seconds",
    "sluicegate_consumer_starts_total",
    "sluicegate_consumer_exits_total",
    "sluicegate_consumers",
)
# Gauges that must read 0 for every drill queue once it has drained.
_DRAINED_GAUGES = (
    "sluicegate_queue_depth",
    "sluicegate_queue_in_flight",
    "sluicegate_queue_oldest_pending_age_seconds",
)
_TIMEOUT_S = 5.0

Samples = dict[str, dict[str, float]]  # sample name -> queue label -> value (summed)
_SUFFIXES = ("_total", "_bucket")


@dataclass
class MetricsCheck:
    """What the scrapes showed, for the report; ``problems`` fail the drill."""

    agents: int = 0
    persisted_counted: int = 0  # sluicegate_events_persisted_total of the drill's queues, summed
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "agents": self.agents,
            "persisted_counted": self.persisted_counted,
            "problems": self.problems,
        }


def scrape(url: str) -> Samples:
    """``url``'s samples by name and queue label (other labels summed over). A family declared
    without samples yet (an agent that has served nothing since it started) is there, empty."""
    response = httpx.get(url, timeout=_TIMEOUT_S)
    response.raise_for_status()
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for suffix in ("", *_SUFFIXES):
            samples.setdefault(family.name + suffix, {})
        for sample in family.samples:
            by_queue = samples.setdefault(sample.name, {})
            queue = sample.labels.get("queue", "")
            by_queue[queue] = by_queue.get(queue, 0.0) + sample.value
    return samples


@dataclass(frozen=True)
class Scrape:
    url: str
    samples: Samples | None  # None: the agent did not answer
    error: str = ""


def scrape_agents(urls: Sequence[str]) -> list[Scrape]:
    """Every agent's samples now (before the final stop ends them)."""
    scrapes = []
    for url in urls:
        try:
            scrapes.append(Scrape(url, scrape(url)))
        except httpx.HTTPError as error:
            scrapes.append(Scrape(url, None, str(error)))
    return scrapes


def check_scrapes(
    scrapes: Sequence[Scrape], queues: Iterable[str], persisted_rows: int, drained: bool
) -> MetricsCheck:
    """A problem for each missing name, each drill queue whose gauges say work is left after the
    drain, and counters claiming more rows than the database holds."""
    wanted = set(queues)
    check = MetricsCheck(agents=len(scrapes))
    for scrape_ in scrapes:
        if scrape_.samples is None:
            check.problems.append(f"{scrape_.url}: no metrics ({scrape_.error})")
            continue
        samples = scrape_.samples
        missing = [name for name in AGENT_SAMPLES if name not in samples]
        if missing:
            check.problems.append(f"{scrape_.url}: missing {', '.join(missing)}")
        persisted = samples.get("sluicegate_events_persisted_total", {})
        check.persisted_counted += int(sum(persisted.get(queue, 0.0) for queue in wanted))
        if drained:
            check.problems += _left_over(scrape_.url, samples, wanted)
    if check.persisted_counted > persisted_rows:
        check.problems.append(
            f"the agents counted {check.persisted_counted:,} events persisted, "
            f"the database holds {persisted_rows:,}"
        )
    return check


def _left_over(url: str, samples: Samples, queues: set[str]) -> list[str]:
    return [
        f"{url}: {name}{{queue={queue!r}}} is {value:g} after the drain"
        for name in _DRAINED_GAUGES
        for queue, value in samples.get(name, {}).items()
        if queue in queues and value != 0
    ]
