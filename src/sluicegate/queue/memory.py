"""What Redis's memory means for a 202: whether it may evict accepted events, and how full it is.

All of it comes from ``INFO memory`` (``used_memory``, ``maxmemory``, ``maxmemory_policy``), which
managed servers answer where ``CONFIG`` is refused; on a cluster, from every primary.

The policies, for our keys (README "Durability"):

- ``allkeys-*`` may evict a queue's stream, with every event in it: the API and the agent refuse
  such a server (exit 2), unless ``DURABILITY=none`` says losing events is acceptable;
- ``volatile-*`` evicts only keys with a time to live. Events, dead letters and counters have
  none; the locks and crash records do. Losing a lock makes its consumer leave the queue (its
  heartbeat finds it gone) and another take it over: no event is lost or stored twice. Once no
  such key is left, the server refuses writes as ``noeviction`` does. Accepted, with a warning;
- ``noeviction`` (what we recommend) refuses writes above ``maxmemory``: the API answers 503
  ``queue-store-full`` from ``REDIS_MEMORY_HIGH_WATER`` of it on, and the consumers drain.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from sluicegate.errors import ConfigurationError
from sluicegate.queue import keys
from sluicegate.queue.client import is_cluster_client

NO_EVICTION = "noeviction"


@dataclass(frozen=True, slots=True)
class NodeMemory:
    """One server's memory, as ``INFO memory`` tells it."""

    node: str  # host:port
    used_bytes: int
    max_bytes: int  # 0: no limit
    policy: str

    @classmethod
    def of(cls, node: str, info: Mapping[str, Any]) -> "NodeMemory":
        return cls(
            node,
            int(info.get("used_memory", 0)),
            int(info.get("maxmemory", 0)),
            str(info.get("maxmemory_policy", NO_EVICTION)),
        )

    @property
    def evicts_events(self) -> bool:
        return self.policy.startswith("allkeys-")

    @property
    def fill(self) -> float | None:
        """Used memory as a fraction of ``maxmemory``; None without a limit."""
        return self.used_bytes / self.max_bytes if self.max_bytes else None

    def above(self, high_water: float) -> bool:
        """At or above ``high_water`` times maxmemory (never, without a limit)."""
        return self.max_bytes > 0 and self.used_bytes >= high_water * self.max_bytes

    def summary(self) -> dict[str, str | int]:
        """For ``/readyz``."""
        return {
            "node": self.node,
            "used_bytes": self.used_bytes,
            "maxmemory_bytes": self.max_bytes,
            "policy": self.policy,
        }


def eviction_problem(nodes: Sequence[NodeMemory]) -> str | None:
    """One line naming the setting and the fix when a node may evict accepted events."""
    for node in nodes:
        if node.evicts_events:
            return (
                f"Redis at {node.node} has maxmemory-policy {node.policy}: it may evict events "
                "it has accepted; set maxmemory-policy noeviction (CONFIG SET maxmemory-policy "
                "noeviction, and in its configuration), or DURABILITY=none to accept the loss"
            )
    return None


def check_eviction(nodes: Sequence[NodeMemory], durability: str) -> None:
    """``ConfigurationError`` (exit 2 at start) on a server that may evict accepted events."""
    problem = eviction_problem(nodes)
    if problem is not None and durability != "none":
        raise ConfigurationError(problem)


def unprotected(nodes: Sequence[NodeMemory]) -> str | None:
    """A warning when a node has no ``maxmemory``: it grows until the host runs out."""
    unlimited = [node.node for node in nodes if node.max_bytes == 0]
    if not unlimited:
        return None
    return (
        f"Redis at {', '.join(unlimited)} has maxmemory 0: nothing protects the host from "
        "running out of memory during a long database outage; set maxmemory"
    )


def volatile(nodes: Sequence[NodeMemory]) -> str | None:
    """A warning for ``volatile-*``: it may evict locks (harmless), never events."""
    policies = sorted({node.policy for node in nodes if node.policy.startswith("volatile-")})
    if not policies:
        return None
    return (
        f"maxmemory-policy {', '.join(policies)} may evict consumer locks and crash records "
        "(never events) and then refuses writes like noeviction; noeviction is recommended"
    )


def read_memory(client: "redis.Redis") -> list[NodeMemory]:
    """Every primary's memory (the one server's, outside a cluster)."""
    if isinstance(client, redis.cluster.RedisCluster):
        infos = client.info("memory", target_nodes=redis.cluster.RedisCluster.PRIMARIES)
        return _nodes(infos)
    info = client.info("memory")
    return [NodeMemory.of(_address(client.connection_pool.connection_kwargs), info)]


async def read_memory_async(client: "redis.asyncio.Redis") -> list[NodeMemory]:
    if is_cluster_client(client):
        primaries = redis.asyncio.cluster.RedisCluster.PRIMARIES
        return _nodes(await client.info("memory", target_nodes=primaries))
    info = await client.info("memory")
    return [NodeMemory.of(_address(client.connection_pool.connection_kwargs), info)]


def owner_node(client: "redis.asyncio.Redis", queue: str) -> str:
    """The node (host:port) that owns ``queue``'s keys on a cluster; "" outside one."""
    if not isinstance(client, redis.asyncio.cluster.RedisCluster):
        return ""
    return str(client.get_node_from_key(keys.stream_key(queue)).name)


def _nodes(infos: Mapping[str, Mapping[str, Any]]) -> list[NodeMemory]:
    """A cluster's reply: ``{"host:port": info}`` per primary."""
    return [NodeMemory.of(name, info) for name, info in infos.items()]


def _address(kwargs: Mapping[str, Any]) -> str:
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
