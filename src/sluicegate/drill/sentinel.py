"""``sluicegate drill --sentinel``: the drill's own system on Redis Sentinel.

Everything of ``LocalSystem`` (the API and the agents as subprocesses, SQLite or a given database),
with Redis replaced by a primary, a replica and three sentinels (``embedded.sentinel``); every
process finds the primary through ``REDIS_SENTINELS``. One fault of its own:

- ``sentinel-failover``: SIGKILL the primary. Its replica is paused (SIGSTOP) for a moment first,
  so it is behind when the primary dies, as in ``primary-kill`` on a cluster: what
  ``DURABILITY_REPLICAS`` is about. The sentinels agree it is down and promote the replica; every
  process must follow by itself. The old primary comes back as the new one's replica.
"""

from collections.abc import Mapping
from pathlib import Path

from sluicegate.drill.faults import Fault, FaultContext, FaultResult
from sluicegate.drill.replicated import ReplicatedSystem
from sluicegate.drill.schedule import ONE_SERVER_KINDS, PlannedStop
from sluicegate.embedded.sentinel import MASTER_NAME, EmbeddedSentinel
from sluicegate.queue.topology import Topology, parse_addresses


class SentinelSystem(ReplicatedSystem):
    """``LocalSystem`` on a primary and a replica that three sentinels watch."""

    mode = "local sentinel"
    replica_words = "its replica's"

    sentinel: EmbeddedSentinel

    def make_redis(self, root: Path) -> None:
        self.sentinel = EmbeddedSentinel(root / "sentinel")

    @property
    def redis_shape(self) -> str:
        return "Valkey primary + 1 replica, 3 sentinels"

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
        return inherited | {"sentinel-failover": self.fail_primary_over}

    def start_redis(self) -> Mapping[str, str]:
        self.sentinel.start()
        return {
            "REDIS_URL": self.redis_url,
            "REDIS_SENTINELS": self.sentinel.addresses,
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
        }

    def kill_redis(self) -> None:
        self.sentinel.kill()

    def memory_nodes(self) -> list[str]:
        return [self.sentinel.primary().url]

    def fail_primary_over(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        return self.fail_over(
            ctx,
            stop,
            self.sentinel.primary(),
            self.sentinel.replicas(),
            self.sentinel.wait_healthy,  # the replica promoted, every sentinel names it
            self.sentinel.rejoin,
        )
