"""Which fault happens when: a plan drawn from the seed, so a failing run can be replayed.

Stops are placed at fractions of the load (a stop at 0.4 fires once 40 % of the batches have been
answered); with two stops or more, the last one fires after the load, while the backlog drains.
``mixed`` draws the kinds as seeded permutations of every kind the system can undergo, so K stops
cover them all once K reaches their number (10 on one server, 9 on a cluster); ``random`` draws a
scenario of overlapping faults for each stop (see ``scenario``).
"""

import random
from dataclasses import dataclass

from sluicegate.drill.scenario import Scenario, draw

NET_KINDS = ("net-latency", "net-reset", "net-blackhole")  # through the drill's proxy
FAULT_KINDS = (
    "term",
    "kill",
    "kill-consumer",
    "api-term",
    "redis-restart",
    "db-outage",
    "redis-full",
    *NET_KINDS,
)
CLUSTER_KINDS = ("primary-kill", "reshard", "seed-kill")  # a cluster's only (drill --cluster)
SENTINEL_KINDS = ("sentinel-failover",)  # faults of Redis Sentinel only (drill --sentinel)
STANDBY_KINDS = ("db-failover",)  # faults of a database with a standby (drill --db-standby)
DESTINATION_KINDS = ("destination-down",)  # with two destinations (drill --destinations)
# What needs the one server behind the drill's proxy: not on --cluster or --sentinel.
ONE_SERVER_KINDS = ("redis-restart", "random", *NET_KINDS)
FAULT_CHOICES = (
    *(*FAULT_KINDS, *CLUSTER_KINDS, *SENTINEL_KINDS, *STANDBY_KINDS, *DESTINATION_KINDS),
    *("mixed", "random"),
)
DEPLOYMENT_KINDS = ("term", "kill", "db-outage", "mixed")  # what --stop-cmd/--start-cmd can do
DEPRECATED = {"kill-child": "kill-consumer"}  # old name -> new name; old command lines still work
AFTER_LOAD = 1.0

LABELS = {
    "term": "SIGTERM agent",
    "kill": "SIGKILL agent+children",
    "kill-consumer": "SIGKILL consumer",
    "api-term": "SIGTERM api",
    "redis-restart": "redis restart",
    "db-outage": "db outage",
    "redis-full": "redis full (db outage)",
    "primary-kill": "SIGKILL redis primary",
    "reshard": "reshard queue slot",
    "db-failover": "SIGKILL db primary",
    "seed-kill": "SIGKILL seed, restart agent",
    "sentinel-failover": "SIGKILL sentinel primary",
    "net-latency": "network latency",
    "net-reset": "network resets",
    "net-blackhole": "network black hole",
    "destination-down": "destination down",
}


@dataclass(frozen=True, slots=True)
class PlannedStop:
    number: int  # 1-based
    kind: str  # one of FAULT_KINDS
    at_fraction: float  # of the batches answered; AFTER_LOAD = once the load is over
    hard: bool = False  # redis-restart: SIGKILL instead of SHUTDOWN
    scenario: Scenario | None = None  # random: what this stop does

    @property
    def label(self) -> str:
        if self.scenario is not None:
            return f"random: {self.scenario.name}"
        if self.kind == "redis-restart":
            return f"redis {'SIGKILL' if self.hard else 'SHUTDOWN'}"
        return LABELS[self.kind]


def plan_stops(
    fault: str,
    stops: int,
    seed: int,
    kinds: tuple[str, ...] = FAULT_KINDS,
    outage_s: float = 2.0,
) -> list[PlannedStop]:
    """The seeded schedule of ``stops`` faults of kind ``fault`` (``mixed``: over ``kinds``;
    ``random``: a scenario each, whose conditions last about ``outage_s``)."""
    fault = DEPRECATED.get(fault, fault)
    if fault not in FAULT_CHOICES:
        raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULT_CHOICES)}")
    rng = random.Random(seed)
    chosen = _kinds(fault, stops, rng, kinds)
    fractions = _fractions(stops, rng)
    first_hard = rng.random() < 0.5
    planned = []
    restarts = 0
    for number, (kind, fraction) in enumerate(zip(chosen, fractions, strict=True), start=1):
        hard = False
        if kind == "redis-restart":  # alternate SHUTDOWN and SIGKILL, seeded start
            hard = first_hard != (restarts % 2 == 1)
            restarts += 1
        planned.append(PlannedStop(number, kind, fraction, hard))
    if fault == "random":  # drawn last: the other kinds' plans stay what they were for a seed
        planned = [_with_scenario(stop, draw(rng, outage_s)) for stop in planned]
    return planned


def _with_scenario(stop: PlannedStop, scenario: Scenario) -> PlannedStop:
    return PlannedStop(stop.number, stop.kind, stop.at_fraction, scenario=scenario)


def _kinds(fault: str, stops: int, rng: random.Random, kinds: tuple[str, ...]) -> list[str]:
    if fault != "mixed":
        return [fault] * stops
    drawn: list[str] = []
    kinds = tuple(kind for kind in kinds if kind != "random")  # a kind of its own, never mixed
    while len(drawn) < stops:
        drawn += rng.sample(kinds, len(kinds))
    return drawn[:stops]


def _fractions(stops: int, rng: random.Random) -> list[float]:
    if stops == 0:
        return []
    if stops == 1:
        return [round(rng.uniform(0.3, 0.7), 3)]
    during = sorted(round(rng.uniform(0.1, 0.9), 3) for _ in range(stops - 1))
    return [*during, AFTER_LOAD]
