"""Redis clients from a URL. Each process (and each forked child) makes its own."""

import redis
import redis.asyncio

# Short socket timeouts turn a dead server into an error the caller can act on, instead of a hang.
_SOCKET_TIMEOUT_S = 10.0
_CONNECT_TIMEOUT_S = 2.0


def sync_client(url: str, socket_timeout_s: float = _SOCKET_TIMEOUT_S) -> "redis.Redis":
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=_CONNECT_TIMEOUT_S,
        health_check_interval=0,
    )


def async_client(url: str, max_connections: int = 64) -> "redis.asyncio.Redis":
    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=_SOCKET_TIMEOUT_S,
        socket_connect_timeout=_CONNECT_TIMEOUT_S,
        max_connections=max_connections,
    )
