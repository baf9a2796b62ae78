"""``sluicegate drill --sentinel``: the drill's own system on Redis Sentinel.

Everything of ``LocalSystem`` (the API and the agents as subprocesses, SQLite or a given database),
with Redis replaced by a primary, a replica and three sentinels (``embedded.sentinel``); every
process finds the primary through ``REDIS_SENTINELS``. One fault of its own:

- ``sentinel-failover``: SIGKILL the primary. Its replica is paused (SIGSTOP) for a moment first,
  so it is behind when the primary dies, as in ``primary-kill`` on a cluster: what
  ``DURABILITY_REPLICAS`` is about. The sentinels agree it is down and promote the replica; every
  process must follow by itself. The old primary comes back as the new one's replica.
"""

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sluicegate.drill import procs
from sluicegate.drill.checker import StopFacts
from sluicegate.drill.cluster import REPLICA_LAG_S, pause, resume
from sluicegate.drill.faults import Fault, FaultContext, FaultResult
from sluicegate.drill.local import LocalSystem, Tuning
from sluicegate.drill.schedule import ONE_SERVER_KINDS, PlannedStop
from sluicegate.embedded.sentinel import MASTER_NAME, EmbeddedSentinel
from sluicegate.queue.topology import Topology, parse_addresses

_READY_TIMEOUT_S = 30.0


class SentinelSystem(LocalSystem):
    """``LocalSystem`` on a primary and a replica that three sentinels watch."""

    mode = "local sentinel"

    def __init__(
        self,
        root: Path,
        tuning: Tuning,
        database_url: str | None = None,
        keep: bool = False,
        replicas: int = 0,
    ) -> None:
        super().__init__(root, tuning, database_url, keep)
        self.sentinel = EmbeddedSentinel(root / "sentinel")
        self.replicas = replicas
        self.notes = (
            f"durability: waitaof, DURABILITY_REPLICAS={replicas} (a 202 waits for the "
            f"primary's fsync{' and its replica' + chr(39) + 's' if replicas else ''})",
        )

    @property
    def shape(self) -> dict[str, Any]:
        return super().shape | {
            "redis": "Valkey primary + 1 replica, 3 sentinels",
            "durability": f"waitaof, DURABILITY_REPLICAS={self.replicas} "
            f"(WAITAOF 1 {self.replicas})",
        }

    @property
    def redis_url(self) -> str:
        return f"redis://{MASTER_NAME}/0"  # the host is the sentinels' to say

    @property
    def redis_topology(self) -> Topology:
        return Topology(
            sentinels=parse_addresses(self.sentinel.addresses), sentinel_master=MASTER_NAME
        )

    @property
    def faults(self) -> Mapping[str, Fault]:
        # Nothing that needs the drill's proxy in front of one server: the clients go where the
        # sentinels say.
        inherited = {k: v for k, v in super().faults.items() if k not in ONE_SERVER_KINDS}
        return inherited | {"sentinel-failover": self.fail_over}

    def start(self) -> None:
        self.sentinel.start()
        self.api.env |= {
            "REDIS_URL": self.redis_url,
            "REDIS_SENTINELS": self.sentinel.addresses,
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "DURABILITY_REPLICAS": str(self.replicas),
        }
        for agent in self.agents:
            agent.env = self.api.env
        self.start_services()

    def teardown(self) -> list[str]:
        killed = self.kill_services()
        self.sentinel.kill()
        survivors = procs.wait_gone(killed, timeout_s=5.0)
        return [f"process {pid} outlived the drill" for pid in survivors]

    def memory_nodes(self) -> list[str]:
        return [self.sentinel.primary().url]

    def fail_over(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        primary = self.sentinel.primary()
        lagging = [node.process.pid for node in self.sentinel.replicas() if node.process]
        started = time.monotonic()
        pause(lagging, REPLICA_LAG_S)
        primary.kill()
        resume(lagging)
        self.sentinel.wait_healthy()  # the replica promoted, every sentinel names it
        failover_s = time.monotonic() - started
        self.sentinel.rejoin(primary)
        self.sentinel.wait_healthy()
        back = ctx.observer.wait_until(self.api_ready, timeout_s=_READY_TIMEOUT_S)
        seen = ctx.inspect()
        notes = () if back else ("the API did not become ready again after the failover",)
        return FaultResult(
            StopFacts(stop.kind, seen.ids, notes=notes),
            seen,
            time.monotonic() - started,
            remark=f"primary :{primary.port} killed, replica promoted in {failover_s:.1f} s",
        )
