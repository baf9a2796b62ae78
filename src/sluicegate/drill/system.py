"""The system under test, as the drill sees it: whoever started it, the same few questions.

Two implementations: ``local.LocalSystem`` (Redis, the API and the agent the drill starts in a
folder of its own, so it can do every fault) and ``deployment.Deployment`` (a system somebody
else runs: the faults are what the user's stop and start commands do). The runner talks only to
this protocol.
"""

from collections.abc import Mapping
from typing import Any, Protocol

from sluicegate.drill.checker import StopFacts
from sluicegate.drill.destinations import Destination
from sluicegate.drill.faults import Fault, FaultContext
from sluicegate.queue.topology import Topology


class System(Protocol):
    @property
    def mode(self) -> str:
        """ "local" (started by the drill) or "deployment" (given to it), for the report."""

    @property
    def api_url(self) -> str: ...

    @property
    def redis_url(self) -> str: ...

    @property
    def redis_topology(self) -> Topology:
        """Where else to look for Redis than ``redis_url``: cluster seeds, sentinels, TLS."""

    @property
    def database_url(self) -> str: ...

    @property
    def destinations(self) -> list[Destination]:
        """Where the events go, each checked on its own (the first: the one of the table's
        columns)."""

    @property
    def deadline_s(self) -> float:
        """A graceful stop of the agent must end within this."""

    @property
    def shape(self) -> dict[str, Any]:
        """agents, consumers_per_queue, redis, durability: what the drill ran against, for the
        report (None where the drill did not choose it: a deployment's own)."""

    @property
    def notes(self) -> tuple[str, ...]:
        """What the report should say about this kind of system."""

    @property
    def faults(self) -> Mapping[str, Fault]:
        """The fault kinds this system can undergo, by name."""

    def metrics_urls(self) -> list[str]:
        """The running agents' ``/metrics``; empty when the drill cannot know them."""

    def start(self) -> None:
        """Bring the system up (or check that it answers); DrillError if it cannot."""

    def shutdown(self, ctx: FaultContext) -> tuple[StopFacts | None, list[str]]:
        """The final graceful stop, checked, and problems to report; None: not the drill's to
        stop."""

    def teardown(self) -> list[str]:
        """Kill and reap whatever the drill started; a problem for each process that survived."""

    def keep_files(self, passed: bool) -> str | None:
        """Delete the system's files after a passing run unless asked to keep them; a note
        saying where they are when they are kept."""
