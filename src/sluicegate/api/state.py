"""What the API process knows at run time: its Redis client, durability mode, and whether it drains.

Cluster mode (``REDIS_CLUSTER=auto``) and durability are detected lazily: if Redis is away at
startup, the first request (or readiness probe) after it comes back detects them. A
``ConfigurationError`` (``DURABILITY=aof`` on a server that cannot honour it, a server whose
``maxmemory-policy`` may evict accepted events) is fatal: it is
recorded in ``fatal`` and the server stops with exit code 2.
"""

import asyncio
import time

import redis.asyncio
from redis.exceptions import RedisError

from sluicegate.api.auth.bearer import Authenticator
from sluicegate.api.auth.webhooks_file import Webhooks
from sluicegate.api.contracts.file import Contracts
from sluicegate.api.metrics import ApiMetrics
from sluicegate.api.read.store_access import StoreAccess
from sluicegate.api.store_memory import StoreMemory
from sluicegate.errors import ConfigurationError
from sluicegate.logs import get_logger
from sluicegate.queue.client import async_client, is_cluster_async, is_cluster_client
from sluicegate.queue.memory import check_eviction, read_memory_async
from sluicegate.queue.topology import Topology
from sluicegate.queue.writer import QueueWriter, detect_durability
from sluicegate.settings import Settings

# While Redis is away, requests in this window answer 503 at once instead of each one trying.
_DETECT_RETRY_S = 0.25


class ApiState:
    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.topology = Topology.of(settings)
        self.client = self._make_client(cluster=settings.redis_cluster == "yes")
        # Seeds or sentinels say what the client is: nothing to ask, no client made twice.
        known = bool(self.topology.cluster_nodes) or self.topology.is_sentinel
        self._cluster_known = settings.redis_cluster != "auto" or known
        self.metrics = ApiMetrics()
        self.auth = Authenticator(settings.api_tokens_file, self.metrics.registry)
        self.webhooks = Webhooks(settings.webhooks_file)
        self.contracts = Contracts(settings.schemas_file)
        self.store = StoreAccess(settings)  # the read and delete routes' database, opened lazily
        self.draining = False
        self.metrics.draining.set_function(lambda: float(self.draining))
        self.fatal: ConfigurationError | None = None
        self._writer: QueueWriter | None = None
        self.memory = StoreMemory(settings.redis_memory_high_water, settings.durability)
        self._detecting = asyncio.Lock()
        self._next_attempt_s = 0.0

    def reload(self) -> None:
        """SIGHUP: re-read every configuration file; each keeps its last good contents."""
        self.auth.reload()
        self.webhooks.reload()
        self.contracts.reload()

    async def writer(self) -> QueueWriter | None:
        """The writer, detecting durability first if needed; None while Redis is unreachable."""
        if self._writer is not None or not self._may_detect():
            return self._writer
        async with self._detecting:  # one detection at a time; the others reuse its result
            if self._writer is None and self._may_detect():
                await self._detect()
        return self._writer

    async def aclose(self) -> None:
        """Close the writer's connections and the client's."""
        if self._writer is not None:
            await self._writer.aclose()
        await self.client.aclose()
        self.store.close()

    def _may_detect(self) -> bool:
        return self.fatal is None and time.monotonic() >= self._next_attempt_s

    def _make_client(self, cluster: bool) -> "redis.asyncio.Redis":
        # A silent Redis turns into a 503 soon after WAITAOF's own timeout, not after 10 s.
        timeout_s = self.settings.durability_timeout_s + 1
        return async_client(
            self.redis_url, socket_timeout_s=timeout_s, cluster=cluster, topology=self.topology
        )

    async def _detect_cluster(self) -> None:
        """With REDIS_CLUSTER=auto, swap in the cluster client if the server says it is one."""
        if self._cluster_known:
            return
        if await is_cluster_async(self.redis_url, topology=self.topology):
            standalone, self.client = self.client, self._make_client(cluster=True)
            await standalone.aclose()
        self._cluster_known = True
        get_logger().info("redis-detected", cluster=is_cluster_client(self.client))

    async def _detect(self) -> None:
        log = get_logger()
        try:
            await self._detect_cluster()
            mode = await detect_durability(
                self.client, self.settings.durability, self.settings.durability_replicas
            )
            nodes = await read_memory_async(self.client)
            check_eviction(nodes, self.settings.durability)  # allkeys-*: exit 2
        except (RedisError, OSError) as error:
            log.warning("redis-unavailable", error=str(error))
            self._next_attempt_s = time.monotonic() + _DETECT_RETRY_S
            return
        except ConfigurationError as error:
            self.fatal = error  # the server sees it and stops; requests get 503 meanwhile
            log.error("api-configuration-error", message=str(error))
            return
        self.memory.learn(nodes)
        self._writer = QueueWriter(
            self.client,
            mode,
            self.settings.queue_max_depth,
            self.settings.durability_timeout_s,
            self.settings.durability_replicas,
            self.settings.queue_entry_packing,
        )
        self.metrics.durability.state(mode.value)
        log.info("durability-detected", mode=mode.value, replicas=self.settings.durability_replicas)
