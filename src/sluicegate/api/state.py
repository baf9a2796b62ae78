"""What the API process knows at run time: its Redis client, durability mode, and whether it drains.

Durability is detected lazily: if Redis is away at startup, the first request (or readiness probe)
after it comes back detects it. A ``ConfigurationError`` (``DURABILITY=aof`` on a server that
cannot honour it) is fatal: it is recorded in ``fatal`` and the server stops with exit code 2.
"""

import asyncio
import time

import redis.asyncio
from redis.exceptions import RedisError

from sluicegate.api.auth import Authenticator
from sluicegate.api.metrics import ApiMetrics
from sluicegate.errors import ConfigurationError
from sluicegate.logs import get_logger
from sluicegate.queue.writer import QueueWriter, detect_durability
from sluicegate.settings import Settings

# While Redis is away, requests in this window answer 503 at once instead of each one trying.
_DETECT_RETRY_S = 0.25


class ApiState:
    def __init__(self, settings: Settings, client: "redis.asyncio.Redis") -> None:
        self.settings = settings
        self.client = client
        self.metrics = ApiMetrics()
        self.auth = Authenticator(settings.api_tokens_file, self.metrics.registry)
        self.draining = False
        self.fatal: ConfigurationError | None = None
        self._writer: QueueWriter | None = None
        self._detecting = asyncio.Lock()
        self._next_attempt_s = 0.0

    async def writer(self) -> QueueWriter | None:
        """The writer, detecting durability first if needed; None while Redis is unreachable."""
        if self._writer is not None or not self._may_detect():
            return self._writer
        async with self._detecting:  # one detection at a time; the others reuse its result
            if self._writer is None and self._may_detect():
                await self._detect()
        return self._writer

    def _may_detect(self) -> bool:
        return self.fatal is None and time.monotonic() >= self._next_attempt_s

    async def _detect(self) -> None:
        log = get_logger()
        try:
            mode = await detect_durability(self.client, self.settings.durability)
        except (RedisError, OSError) as error:
            log.warning("redis-unavailable", error=str(error))
            self._next_attempt_s = time.monotonic() + _DETECT_RETRY_S
            return
        except ConfigurationError as error:
            self.fatal = error  # the server sees it and stops; requests get 503 meanwhile
            log.error("api-configuration-error", message=str(error))
            return
        self._writer = QueueWriter(
            self.client, mode, self.settings.queue_max_depth, self.settings.durability_timeout_s
        )
        self.metrics.durability.state(mode.value)
        log.info("durability-detected", mode=mode.value)
