"""Clients of the primary that Redis Sentinel watches (``REDIS_SENTINELS``, sync and asyncio).

redis-py's ``Sentinel.master_for`` asks the sentinels for the primary's address on every new
connection, and drops its connections when one meets a connection error or a ``READONLY`` reply
(the old primary demoted): after a failover every process writes to the new primary by itself.
The client it returns is a plain ``Redis``, so the rest of the code cannot tell it apart.
"""

from typing import Any

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

from sluicegate.queue.topology import Topology


class _PrimaryClient(redis.Redis):
    """A primary's client that closes the connections to the sentinels with its own (redis-py
    leaves them open: the sentinels are shared by every client of one ``Sentinel``)."""

    def close(self) -> None:
        super().close()
        for sentinel in self.connection_pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            sentinel.close()


class _AsyncPrimaryClient(redis.asyncio.Redis):
    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.connection_pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            await sentinel.aclose()


def sentinel_client(url: str, topology: Topology, options: dict[str, Any]) -> "redis.Redis":
    """A client of the primary; ``options`` as for ``redis.Redis`` (timeouts, retry, TLS)."""
    sentinel = redis.sentinel.Sentinel(
        topology.sentinels, sentinel_kwargs=topology.sentinel_kwargs(url, options)
    )
    client: redis.Redis = sentinel.master_for(
        topology.sentinel_master,
        redis_class=_PrimaryClient,
        **topology.sentinel_options(url, options),
    )
    return client


def sentinel_async_client(
    url: str, topology: Topology, options: dict[str, Any]
) -> "redis.asyncio.Redis":
    sentinel = redis.asyncio.sentinel.Sentinel(
        topology.sentinels, sentinel_kwargs=topology.sentinel_kwargs(url, options)
    )
    client: redis.asyncio.Redis = sentinel.master_for(
        topology.sentinel_master,
        redis_class=_AsyncPrimaryClient,
        **topology.sentinel_options(url, options),
    )
    return client
