"""Admission control on Redis's memory: refuse a POST before Redis is full, not when it is.

The API reads ``INFO memory`` of every primary at most once a second (``PERIOD_S``), however many
requests arrive. A POST whose queue lives on a node at or above ``REDIS_MEMORY_HIGH_WATER`` of its
``maxmemory`` gets 503 ``queue-store-full`` with ``Retry-After``: the room above the mark is what
the consumers need to drain (``queue/lua``'s allow-oom scripts run even above ``maxmemory``), and
a client told to come back later loses nothing. A node whose policy may evict accepted events
(changed at run time: at start the API refuses it) turns ``/readyz`` and every POST to 503.
"""

import asyncio
import time

import redis.asyncio
from redis.exceptions import RedisError

from sluicegate.api.problems import ProblemError
from sluicegate.logs import get_logger
from sluicegate.queue.memory import (
    NodeMemory,
    eviction_problem,
    owner_node,
    read_memory_async,
    unprotected,
    volatile,
)

PERIOD_S = 1.0
STORE_FULL_RETRY_AFTER_S = 5
STORE_FULL = "queue-store-full"
RETRY_AFTER_S = 1  # a policy that may evict: another instance (or this one) may be fine soon


class StoreMemory:
    def __init__(self, high_water: float, durability: str) -> None:
        self.high_water = high_water
        self._durability = durability
        self.nodes: dict[str, NodeMemory] = {}
        self.eviction: str | None = None  # why Redis may evict accepted events, when it may
        self._read_at = -PERIOD_S
        self._reading = asyncio.Lock()
        self._warned: set[str] = set()
        self._full: set[str] = set()

    async def refusal(self, client: "redis.asyncio.Redis", queue: str) -> ProblemError | None:
        """Why a POST to ``queue`` must wait, or None."""
        await self.refresh(client)
        if self.eviction is not None:
            return ProblemError(503, "unavailable", self.eviction, retry_after_s=RETRY_AFTER_S)
        node = self.nodes.get(owner_node(client, queue)) if len(self.nodes) > 1 else self._only()
        if node is None or not node.above(self.high_water):
            return None
        return self.full_refusal(node)

    def full_refusal(self, node: NodeMemory | None = None) -> ProblemError:
        """The 503 ``queue-store-full``: nothing was stored, come back later. ``node``: the one
        above the mark (None: Redis itself refused the write for memory)."""
        where = "the queue store (Redis) refused the write: it is above its maxmemory"
        if node is not None:
            where = (
                f"the queue store (Redis at {node.node}) holds {node.used_bytes:,} bytes of its "
                f"maxmemory {node.max_bytes:,}, at or above "
                f"REDIS_MEMORY_HIGH_WATER={self.high_water}"
            )
        detail = f"{where}; nothing was stored: retry later, as the consumers drain it"
        return ProblemError(503, STORE_FULL, detail, retry_after_s=STORE_FULL_RETRY_AFTER_S)

    async def refresh(self, client: "redis.asyncio.Redis") -> None:
        """Read every primary's memory if the last reading is older than ``PERIOD_S``; a Redis
        that does not answer keeps the last reading (the write itself will fail)."""
        if time.monotonic() - self._read_at < PERIOD_S:
            return
        async with self._reading:
            if time.monotonic() - self._read_at < PERIOD_S:
                return
            self._read_at = time.monotonic()
            try:
                nodes = await read_memory_async(client)
            except (RedisError, OSError):
                return
            self.learn(nodes)

    def learn(self, nodes: list[NodeMemory]) -> None:
        """Take a reading; log what changed (a policy that may evict, a node above the mark)."""
        log = get_logger()
        self.nodes = {node.node: node for node in nodes}
        eviction = eviction_problem(nodes) if self._durability != "none" else None
        if eviction != self.eviction:
            if eviction is None:
                log.info("redis-eviction-policy-safe")
            else:
                log.error("redis-may-evict", message=eviction)
        self.eviction = eviction
        for warning in filter(None, (unprotected(nodes), volatile(nodes))):
            if warning not in self._warned:
                self._warned.add(warning)
                log.warning("redis-memory-unprotected", message=warning)
        full = {node.node for node in nodes if node.above(self.high_water)}
        for name in full - self._full:
            log.warning("queue-store-full", node=name, high_water=self.high_water)
        for name in self._full - full:
            log.info("queue-store-below-high-water", node=name)
        self._full = full

    def _only(self) -> NodeMemory | None:
        return next(iter(self.nodes.values()), None)

    def report(self) -> dict[str, object]:
        """What ``/readyz`` says about memory."""
        nodes = list(self.nodes.values())
        return {
            "high_water": self.high_water,
            "nodes": [node.summary() for node in nodes],
            "warnings": [w for w in (unprotected(nodes), volatile(nodes)) if w],
        }
