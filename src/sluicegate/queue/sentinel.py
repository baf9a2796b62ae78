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


def sentinel_client(url: str, topology: Topology, options: dict[str, Any]) -> "redis.Redis":
    """A client of the primary; ``options`` as for ``redis.Redis`` (timeouts, retry, TLS)."""
    sentinel = redis.sentinel.Sentinel(
        topology.sentinels, sentinel_kwargs=topology.sentinel_kwargs(url, options)
    )
    client: redis.Redis = sentinel.master_for(
        topology.sentinel_master, **topology.sentinel_options(url, options)
    )
    return client


def sentinel_async_client(
    url: str, topology: Topology, options: dict[str, Any]
) -> "redis.asyncio.Redis":
    sentinel = redis.asyncio.sentinel.Sentinel(
        topology.sentinels, sentinel_kwargs=topology.sentinel_kwargs(url, options)
    )
    client: redis.asyncio.Redis = sentinel.master_for(
        topology.sentinel_master, **topology.sentinel_options(url, options)
    )
    return client
