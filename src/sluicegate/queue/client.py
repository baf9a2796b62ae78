"""Redis clients from a URL. Each process (and each forked consumer) makes its own.

A URL may name a standalone server or any node of a Redis Cluster: ``REDIS_CLUSTER=auto`` asks
the server (``INFO cluster``) and makes redis-py's cluster client where cluster mode is on. The
cluster clients speak the same commands as the standalone ones (every queue's keys share one slot
through the ``{queue}`` hash tag), so they are handed out typed as the standalone ones; the few
places that differ (a reply read later on a node's own connection, ``WAITAOF`` on the connection
that wrote) ask ``is_cluster_client``.

The one place where TLS is applied: a ``rediss://`` URL gets the ``REDIS_TLS_*`` files (a private
CA, a client certificate and key) as redis-py's ``ssl_*`` options, in every client made here;
``redis://user:password@…`` carries an ACL user, as redis-py reads it. Log a URL only through
``masking.mask_url``.
"""

import os
from typing import Any, Literal, cast

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterDownError,
    MovedError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from sluicegate.queue.sentinel import sentinel_async_client, sentinel_client
from sluicegate.queue.topology import NO_TOPOLOGY, Topology
from sluicegate.settings import load_settings

ClusterMode = Literal["auto", "yes", "no"]

# Short socket timeouts turn a dead server into an error the caller can act on, instead of a hang.
_SOCKET_TIMEOUT_S = 10.0
_CONNECT_TIMEOUT_S = 2.0
# One quick retry replaces a pooled connection that a Redis restart broke; longer outages are
# the caller's to handle (the consumer backs off, the API answers 503 at once).
_RETRIES = 2
_BACKOFF = ExponentialBackoff(cap=0.2, base=0.02)

# A slot moving (MOVED, ASK, TRYAGAIN) or a failover under way (CLUSTERDOWN): try again shortly.
CLUSTER_TRANSIENT = (MovedError, AskError, TryAgainError, ClusterDownError, SlotNotCoveredError)
TRANSIENT_REDIS_ERRORS = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    *CLUSTER_TRANSIENT,
)


_TOPOLOGY_VARIABLES = ("REDIS_CLUSTER_NODES", "REDIS_SENTINELS")


def topology_from_environment(url: str) -> Topology:
    """For a URL given on a command line (the drill's ``--redis-url``): REDIS_TLS_* as set (they
    apply to a ``rediss://`` URL only), and REDIS_CLUSTER_NODES or REDIS_SENTINELS as set."""
    if not url.startswith("rediss://") and not any(map(os.environ.get, _TOPOLOGY_VARIABLES)):
        return NO_TOPOLOGY
    return Topology.of(load_settings())


def is_cluster(url: str, mode: ClusterMode = "auto", topology: Topology = NO_TOPOLOGY) -> bool:
    """Whether ``url`` names a cluster node; ``auto`` asks it (a connection error propagates),
    unless the topology says: cluster seeds are a cluster, sentinels watch a standalone."""
    known = _known_mode(mode, topology)
    if known is not None:
        return known
    probe = redis.Redis.from_url(
        url,
        socket_timeout=_CONNECT_TIMEOUT_S,
        retry=Retry(_BACKOFF, 0),
        **topology.tls.options(url),
    )
    try:
        return _cluster_enabled(probe.info("cluster"))
    finally:
        probe.close()


async def is_cluster_async(
    url: str, mode: ClusterMode = "auto", topology: Topology = NO_TOPOLOGY
) -> bool:
    known = _known_mode(mode, topology)
    if known is not None:
        return known
    probe = redis.asyncio.Redis.from_url(
        url, socket_timeout=_CONNECT_TIMEOUT_S, **topology.tls.options(url)
    )
    try:
        return _cluster_enabled(await probe.info("cluster"))
    finally:
        await probe.aclose()


def _known_mode(mode: ClusterMode, topology: Topology) -> bool | None:
    if topology.cluster_nodes:
        return True
    if topology.is_sentinel:
        return False
    return None if mode == "auto" else mode == "yes"


def _cluster_enabled(info: dict[str, Any]) -> bool:
    return bool(int(info.get("cluster_enabled", 0)))


def sync_client(
    url: str,
    socket_timeout_s: float = _SOCKET_TIMEOUT_S,
    cluster: ClusterMode = "auto",
    topology: Topology = NO_TOPOLOGY,
    retries: int = _RETRIES,
) -> "redis.Redis":
    """``retries``: how often a call is sent again after a connection error or a timeout."""
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout_s,
        "socket_connect_timeout": _CONNECT_TIMEOUT_S,
        "retry": Retry(_BACKOFF, retries),
        **topology.tls.options(url),
    }
    if topology.is_sentinel:
        return sentinel_client(url, topology, options)
    if is_cluster(url, cluster, topology):
        seeds = topology.startup_nodes()
        client = redis.cluster.RedisCluster.from_url(url, startup_nodes=seeds, **options)
        return cast("redis.Redis", client)
    return redis.Redis.from_url(url, health_check_interval=0, **options)


def async_client(
    url: str,
    max_connections: int = 64,
    socket_timeout_s: float = _SOCKET_TIMEOUT_S,
    cluster: bool = False,
    topology: Topology = NO_TOPOLOGY,
) -> "redis.asyncio.Redis":
    """``cluster``: a cluster client (``is_cluster_async`` tells); it connects on first use."""
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout_s,
        "socket_connect_timeout": _CONNECT_TIMEOUT_S,
        "max_connections": max_connections,
        "retry": redis.asyncio.retry.Retry(_BACKOFF, _RETRIES),
        **topology.tls.options(url),
    }
    if topology.is_sentinel:
        return sentinel_async_client(url, topology, options)
    if cluster or topology.cluster_nodes:
        seeds = topology.startup_nodes()
        client = redis.asyncio.cluster.RedisCluster.from_url(url, startup_nodes=seeds, **options)
        return cast("redis.asyncio.Redis", client)
    return redis.asyncio.Redis.from_url(url, **options)


def is_cluster_client(client: object) -> bool:
    return isinstance(client, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster)


def node_client(client: "redis.Redis", key: str) -> "redis.Redis":
    """The client of the one server holding ``key``: ``client`` itself unless it is a cluster."""
    if not isinstance(client, redis.cluster.RedisCluster):
        return client
    node = client.get_node_from_key(key)
    return cast("redis.Redis", node.redis_connection or client.get_redis_connection(node))


def refresh_topology(client: "redis.Redis") -> None:
    """After a MOVED or a failover met outside the cluster client: learn the slots again."""
    if isinstance(client, redis.cluster.RedisCluster):
        try:
            client.nodes_manager.initialize()
        except (RedisError, RedisClusterException):
            pass  # no node answers yet (a failover under way): the next error asks again


def as_text(value: bytes | str) -> str:
    """A reply field as text, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else value
