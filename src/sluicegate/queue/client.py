"""Redis clients from a URL. Each process (and each forked consumer) makes its own."""

import redis
import redis.asyncio
import redis.asyncio.retry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

# Short socket timeouts turn a dead server into an error the caller can act on, instead of a hang.
_SOCKET_TIMEOUT_S = 10.0
_CONNECT_TIMEOUT_S = 2.0
# One quick retry replaces a pooled connection that a Redis restart broke; longer outages are
# the caller's to handle (the consumer backs off, the API answers 503 at once).
_RETRIES = 2
_BACKOFF = ExponentialBackoff(cap=0.2, base=0.02)


def sync_client(url: str, socket_timeout_s: float = _SOCKET_TIMEOUT_S) -> "redis.Redis":
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=_CONNECT_TIMEOUT_S,
        health_check_interval=0,
        retry=Retry(_BACKOFF, _RETRIES),
    )


def async_client(
    url: str, max_connections: int = 64, socket_timeout_s: float = _SOCKET_TIMEOUT_S
) -> "redis.asyncio.Redis":
    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=_CONNECT_TIMEOUT_S,
        max_connections=max_connections,
        retry=redis.asyncio.retry.Retry(_BACKOFF, _RETRIES),
    )


def as_text(value: bytes | str) -> str:
    """A reply field as text, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else value
