"""Per-token rate limits (``rate`` and ``burst`` of an ``API_TOKENS_FILE`` entry), kept in Redis.

GCRA (the generic cell rate algorithm) in one script (``lua/rate_limit.lua``): each token has one
small key, its theoretical arrival time, so every API process (``API_WORKERS``, several hosts)
shares one budget per token. The key's hash tag is the token's name (``{token:NAME}``), so on a
cluster it lives on one node and a request costs one round trip there.
"""

import math
import re
from dataclasses import dataclass

import redis.asyncio
from redis.exceptions import NoScriptError

from sluicegate.queue import keys
from sluicegate.queue.scripts import RATE_LIMIT, lua

_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*")
_PER = {"s": 1.0, "m": 60.0, "h": 3600.0}
_SCRIPT = lua(RATE_LIMIT)


@dataclass(frozen=True, slots=True)
class Rate:
    per_s: float  # requests per second, sustained
    burst: int  # requests that may go at once

    @property
    def interval_us(self) -> int:
        return max(1, round(1_000_000 / self.per_s))


def parse_rate(text: str, burst: int | None = None) -> Rate:
    """``"500/s"`` (or ``/m``, ``/h``) and an optional burst (default: one second's worth, at
    least 1); ValueError saying what is wrong."""
    match = _RATE.fullmatch(text)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"rate {text!r} is not a positive number of requests per s, m or h")
    per_s = float(match.group(1)) / _PER[match.group(2)]
    if burst is not None and burst < 1:
        raise ValueError(f"burst {burst} must be at least 1")
    return Rate(per_s, burst if burst is not None else max(1, math.ceil(per_s)))


async def wait_s(client: "redis.asyncio.Redis", token: str, rate: Rate) -> float:
    """0 when a request of ``token`` may go now (and it is counted), else the seconds until one
    may."""
    arguments = (1, keys.rate_key(token), rate.interval_us, rate.burst)
    try:
        waited = await client.evalsha(_SCRIPT.sha, *arguments)
    except NoScriptError:  # a restarted server forgot it
        waited = await client.eval(_SCRIPT.source, *arguments)
    return int(waited) / 1_000_000
