"""Per-token rate limits on the ingest route: over its ``rate`` a token gets 429 ``rate-limited``
with ``Retry-After`` (``sluicegate.client`` waits that long and retries with the same ids).

The budget lives in Redis (``queue/rate.py``), so every API process shares it. When Redis does not
answer the check, the request goes on: the enqueue meets the same Redis and answers for it.
"""

import math

from redis.exceptions import RedisError

from sluicegate.api.auth.bearer import Caller
from sluicegate.api.problems import ProblemError
from sluicegate.api.state import ApiState
from sluicegate.queue.rate import wait_s


async def limit_rate(state: ApiState, caller: Caller) -> None:
    token = caller.token
    if token is None or token.rate is None or await state.writer() is None:
        return
    try:
        wait = await wait_s(state.client, token.name, token.rate)
    except (RedisError, OSError):
        return
    if wait > 0:
        state.metrics.rate_limited.labels(token.name).inc()
        raise ProblemError(
            429,
            "rate-limited",
            f"token '{token.name}' is over its rate of {token.rate.per_s:g} requests/s "
            f"(burst {token.rate.burst}); retry after the Retry-After seconds",
            retry_after_s=max(1, math.ceil(wait)),
        )
