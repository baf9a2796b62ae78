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

from dataclasses import dataclass
from pathlib import Path
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

from sluicegate.settings import Settings, load_settings

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


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """``REDIS_TLS_*``: a private CA, and the certificate and key for servers that ask for one."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @classmethod
    def of(cls, settings: Settings) -> "TlsFiles":
        return cls(
            settings.redis_tls_ca_file, settings.redis_tls_cert_file, settings.redis_tls_key_file
        )

    @classmethod
    def from_environment(cls, url: str) -> "TlsFiles":
        """For a URL given on a command line (the drill's ``--redis-url``): REDIS_TLS_* as set."""
        if not url.startswith("rediss://"):
            return NO_TLS_FILES
        return cls.of(load_settings())

    def options(self, url: str) -> dict[str, Any]:
        """redis-py's ``ssl_*`` keywords for ``url``: none unless it is ``rediss://``."""
        if not url.startswith("rediss://"):
            return {}
        given = {
            "ssl_ca_certs": self.ca_file,
            "ssl_certfile": self.cert_file,
            "ssl_keyfile": self.key_file,
        }
        return {name: str(path) for name, path in given.items() if path is not None}


NO_TLS_FILES = TlsFiles()


def is_cluster(url: str, mode: ClusterMode = "auto", tls: TlsFiles = NO_TLS_FILES) -> bool:
    """Whether ``url`` names a cluster node; ``auto`` asks it (a connection error propagates)."""
    if mode != "auto":
        return mode == "yes"
    probe = redis.Redis.from_url(
        url, socket_timeout=_CONNECT_TIMEOUT_S, retry=Retry(_BACKOFF, 0), **tls.options(url)
    )
    try:
        return _cluster_enabled(probe.info("cluster"))
    finally:
        probe.close()


async def is_cluster_async(
    url: str, mode: ClusterMode = "auto", tls: TlsFiles = NO_TLS_FILES
) -> bool:
    if mode != "auto":
        return mode == "yes"
    probe = redis.asyncio.Redis.from_url(url, socket_timeout=_CONNECT_TIMEOUT_S, **tls.options(url))
    try:
        return _cluster_enabled(await probe.info("cluster"))
    finally:
        await probe.aclose()


def _cluster_enabled(info: dict[str, Any]) -> bool:
    return bool(int(info.get("cluster_enabled", 0)))


def sync_client(
    url: str,
    socket_timeout_s: float = _SOCKET_TIMEOUT_S,
    cluster: ClusterMode = "auto",
    tls: TlsFiles = NO_TLS_FILES,
    retries: int = _RETRIES,
) -> "redis.Redis":
    """``retries``: how often a call is sent again after a connection error or a timeout."""
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout_s,
        "socket_connect_timeout": _CONNECT_TIMEOUT_S,
        "retry": Retry(_BACKOFF, retries),
        **tls.options(url),
    }
    if is_cluster(url, cluster, tls):
        return cast("redis.Redis", redis.cluster.RedisCluster.from_url(url, **options))
    return redis.Redis.from_url(url, health_check_interval=0, **options)


def async_client(
    url: str,
    max_connections: int = 64,
    socket_timeout_s: float = _SOCKET_TIMEOUT_S,
    cluster: bool = False,
    tls: TlsFiles = NO_TLS_FILES,
) -> "redis.asyncio.Redis":
    """``cluster``: a cluster client (``is_cluster_async`` tells); it connects on first use."""
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout_s,
        "socket_connect_timeout": _CONNECT_TIMEOUT_S,
        "max_connections": max_connections,
        "retry": redis.asyncio.retry.Retry(_BACKOFF, _RETRIES),
        **tls.options(url),
    }
    if cluster:
        client = redis.asyncio.cluster.RedisCluster.from_url(url, **options)
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
