"""Which fault happens when: a plan drawn from the seed, so a failing run can be replayed.

Stops are placed at fractions of the load (a stop at 0.4 fires once 40 % of the batches have been
answered); with two stops or more, the last one fires after the load, while the backlog drains.
``mixed`` draws the kinds as seeded permutations of every kind the system can undergo, so K stops
cover them all once K reaches their number (6 on one server, 7 on a cluster).
"""

import random
from dataclasses import dataclass

FAULT_KINDS = ("term", "kill", "kill-consumer", "api-term", "redis-restart", "db-outage")
CLUSTER_KINDS = ("primary-kill", "reshard")  # faults of a cluster only (drill --cluster)
FAULT_CHOICES = (*FAULT_KINDS, *CLUSTER_KINDS, "mixed")
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
    "primary-kill": "SIGKILL redis primary",
    "reshard": "reshard queue slot",
}


@dataclass(frozen=True, slots=True)
class PlannedStop:
    number: int  # 1-based
    kind: str  # one of FAULT_KINDS
    at_fraction: float  # of the batches answered; AFTER_LOAD = once the load is over
    hard: bool = False  # redis-restart: SIGKILL instead of SHUTDOWN

    @property
    def label(self) -> str:
        if self.kind == "redis-restart":
            return f"redis {'SIGKILL' if self.hard else 'SHUTDOWN'}"
        return LABELS[self.kind]


def plan_stops(
    fault: str, stops: int, seed: int, kinds: tuple[str, ...] = FAULT_KINDS
) -> list[PlannedStop]:
    """The seeded schedule of ``stops`` faults of kind ``fault`` (or ``mixed`` over ``kinds``)."""
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
    return planned


def _kinds(fault: str, stops: int, rng: random.Random, kinds: tuple[str, ...]) -> list[str]:
    if fault != "mixed":
        return [fault] * stops
    drawn: list[str] = []
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
