"""The randomized fault search's plans: overlapping faults at random moments, drawn from a seed.

A ``Scenario`` is what one ``random`` stop does: a few steps on a timeline of seconds. A step is
either a *condition* that lasts (the database away, the network slow, black-holed or resetting
connections, the agent or the API stopped) or an *instant* (SIGKILL of the agent or of a consumer,
a Redis restart). Steps overlap on purpose. Each scenario is drawn from a template that names a
combination worth trying, or freely from every kind. Pure: the same seed draws the same plans.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass

CONDITIONS = ("db-outage", "net-latency", "net-blackhole", "agent-down", "api-down")
INSTANTS = ("agent-kill", "consumer-kill", "redis-restart", "redis-kill", "net-reset")
_RESET_EVERY_S = 0.3  # "connections reset for a while" is a reset every this long


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # one of CONDITIONS or INSTANTS
    at_s: float  # from the start of the stop
    duration_s: float = 0.0  # conditions only
    latency_s: float = 0.0  # net-latency only
    kill_after_s: float | None = None  # agent-down only: SIGKILL it this long into its drain

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s

    def describe(self) -> str:
        if self.kind in INSTANTS:
            return f"{self.kind} @{self.at_s:.1f}s"
        extra = f" +{self.latency_s * 1000:.0f}ms" if self.kind == "net-latency" else ""
        if self.kill_after_s is not None:
            extra = f" (SIGKILL {self.kill_after_s:.2f}s into the drain)"
        return f"{self.kind}{extra} {self.at_s:.1f}-{self.end_s:.1f}s"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str  # the template it was drawn from
    steps: tuple[Step, ...]

    def describe(self) -> str:
        return f"{self.name}: " + ", ".join(step.describe() for step in self.steps)


def _duration(rng: random.Random, outage_s: float) -> float:
    return round(rng.uniform(0.5, 1.5) * outage_s, 2)


def _redis_restart_during_db_outage(rng: random.Random, outage_s: float) -> list[Step]:
    length = _duration(rng, outage_s)
    restart = rng.choice(("redis-restart", "redis-kill"))
    return [Step("db-outage", 0.0, length), Step(restart, round(rng.uniform(0, length), 2))]


def _sigkill_during_drain(rng: random.Random, outage_s: float) -> list[Step]:
    if rng.random() < 0.5:  # the whole tree, mid-drain
        kill_after = round(rng.uniform(0.0, 0.5), 2)
        return [Step("agent-down", 0.0, _duration(rng, outage_s), kill_after_s=kill_after)]
    down = Step("agent-down", 0.0, _duration(rng, outage_s))  # one consumer, mid-drain
    return [down, Step("consumer-kill", round(rng.uniform(0.0, 0.2), 2))]


def _api_down_while_agent_down(rng: random.Random, outage_s: float) -> list[Step]:
    agent = Step("agent-down", 0.0, _duration(rng, outage_s))
    api_at = round(rng.uniform(0.0, agent.duration_s), 2)
    return [agent, Step("api-down", api_at, _duration(rng, outage_s))]


def _two_in_quick_succession(rng: random.Random, outage_s: float) -> list[Step]:
    first, second = rng.choice(INSTANTS), rng.choice(("agent-down", *INSTANTS))
    gap = round(rng.uniform(0.0, 0.5), 2)
    return [Step(first, 0.0), _step(second, gap, rng, outage_s)]


def _network_during_a_stop(rng: random.Random, outage_s: float) -> list[Step]:
    kind = rng.choice(("net-latency", "net-blackhole", "net-reset"))
    length = _duration(rng, outage_s)
    steps = [_step(kind, 0.0, rng, outage_s, length)]
    other = rng.choice(("agent-down", "agent-kill", "consumer-kill", "redis-restart", "db-outage"))
    return [*steps, _step(other, round(rng.uniform(0, length), 2), rng, outage_s)]


def _free(rng: random.Random, outage_s: float) -> list[Step]:
    count = rng.randint(1, 3)
    kinds = rng.sample((*CONDITIONS, *INSTANTS), count)
    return [_step(kind, round(rng.uniform(0, 2 * outage_s), 2), rng, outage_s) for kind in kinds]


def _step(
    kind: str, at_s: float, rng: random.Random, outage_s: float, length: float | None = None
) -> Step:
    """A step of ``kind`` at ``at_s``, its length (and latency) drawn when it has one."""
    if kind in INSTANTS and kind != "net-reset":
        return Step(kind, at_s)
    length = _duration(rng, outage_s) if length is None else length
    if kind == "net-latency":
        return Step(kind, at_s, length, latency_s=round(rng.uniform(0.05, 0.5), 3))
    return Step(kind, at_s, length)


TEMPLATES: dict[str, Callable[[random.Random, float], list[Step]]] = {
    "redis restart during a db outage": _redis_restart_during_db_outage,
    "SIGKILL during a drain": _sigkill_during_drain,
    "API stopped while the agent is down": _api_down_while_agent_down,
    "two stops in quick succession": _two_in_quick_succession,
    "network fault during a stop": _network_during_a_stop,
    "anything": _free,
}


def draw(rng: random.Random, outage_s: float) -> Scenario:
    """One scenario: a template (free combinations as often as the named ones together)."""
    name = rng.choice([*TEMPLATES, *(["anything"] * (len(TEMPLATES) - 2))])
    steps = sorted(TEMPLATES[name](rng, outage_s), key=lambda step: step.at_s)
    return Scenario(name, tuple(steps))


def resets(step: Step) -> list[float]:
    """When a net-reset step resets the connections: at once, then every 0.3 s while it lasts."""
    count = 1 + int(step.duration_s / _RESET_EVERY_S)
    return [round(step.at_s + n * _RESET_EVERY_S, 3) for n in range(count)]
