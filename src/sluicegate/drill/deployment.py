"""A system the drill did not start: its faults are only what --stop-cmd and --start-cmd do.

(and a database outage through --database-url). See docs/drill.md, "Against a deployment".
"""

import shlex
import subprocess
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from sluicegate.drill.checker import StopFacts
from sluicegate.drill.destinations import Destination
from sluicegate.drill.faults import (
    Fault,
    FaultContext,
    FaultResult,
    database_outage,
    graceful_facts,
)
from sluicegate.drill.schedule import PlannedStop
from sluicegate.drill.service import Stopped
from sluicegate.errors import DrillError
from sluicegate.queue.client import topology_from_environment
from sluicegate.queue.topology import Topology


class Deployment:
    """An API, Redis and database somebody else runs; shell commands stop and start its agent."""

    mode = "deployment"
    notes: tuple[str, ...] = (
        "deployment mode: faults are only what --stop-cmd and "
        "--start-cmd do (and db-outage through --database-url)",
    )

    def __init__(
        self,
        api_url: str,
        redis_url: str,
        database_url: str,
        stop_cmd: str | None,
        start_cmd: str | None,
        deadline_s: float = 10.0,
        timeout_s: float = 60.0,
    ) -> None:
        self.api_url = api_url
        self.redis_url = redis_url
        self.database_url = database_url
        self.stop_cmd = stop_cmd
        self.start_cmd = start_cmd
        self.deadline_s = deadline_s
        self.timeout_s = timeout_s
        self.destinations = [Destination("sql", "sql", database_url)]

    @property
    def shape(self) -> dict[str, Any]:
        """Whatever the deployment runs: not the drill's to choose (the report says as deployed)."""
        return dict.fromkeys(("agents", "consumers_per_queue", "redis", "durability"))

    @property
    def redis_topology(self) -> Topology:
        return topology_from_environment(self.redis_url)

    @property
    def faults(self) -> Mapping[str, Fault]:
        return {"term": self.command_stop, "kill": self.command_stop, "db-outage": database_outage}

    def run(self, command: str | None) -> Stopped:
        """Run a shell command (such as ``docker compose stop agent``); its exit code, its time."""
        if not command:
            raise DrillError("this fault needs --stop-cmd and --start-cmd")
        started = time.monotonic()
        try:
            done = subprocess.run(  # noqa: S602 - the user's own command, by design
                command,
                shell=True,
                timeout=self.timeout_s,
                check=False,
                capture_output=True,
            )
        except subprocess.TimeoutExpired as error:
            raise DrillError(f"{shlex.quote(command)} ran over {self.timeout_s:.0f} s") from error
        return Stopped(done.returncode, time.monotonic() - started)

    def metrics_urls(self) -> list[str]:
        return []  # the deployment's agents: not the drill's to find

    def start(self) -> None:
        """Nothing to start; the API must answer."""
        try:
            httpx.get(f"{self.api_url}/livez", timeout=5.0).raise_for_status()
        except httpx.HTTPError as error:
            raise DrillError(f"the API at {self.api_url} does not answer: {error}") from error

    def shutdown(self, ctx: FaultContext) -> tuple[StopFacts | None, list[str]]:
        return None, []  # not the drill's to stop

    def teardown(self) -> list[str]:
        return []

    def keep_files(self, passed: bool) -> str | None:
        return None  # the drill made none

    def command_stop(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        """--stop-cmd, inspect, --start-cmd. ``kill`` expects no clean stop, but a reclaim."""
        stopped = self.run(self.stop_cmd)
        holders = [name for name, n in ctx.observer.pending_by_consumer().items() if n]
        seen = ctx.inspect()
        started = self.run(self.start_cmd)
        notes: tuple[str, ...] = (
            () if started.exit_code == 0 else (f"--start-cmd exited {started.exit_code}",)
        )
        if stop.kind == "kill":
            orphaned = ctx.wait_reclaimed(holders)
            return FaultResult(
                StopFacts(stop.kind, seen.ids, orphaned=orphaned, notes=notes),
                seen,
                started.seconds,
            )
        facts = graceful_facts(ctx, stop, stopped, seen, agent=True)
        return FaultResult(replace(facts, notes=facts.notes + notes), seen, started.seconds)
