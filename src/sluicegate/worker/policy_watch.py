"""The agent's watch on Redis's eviction policy (``queue/memory.py`` says why it matters).

Checked before the agent's first fork: a server that may evict accepted events stops the agent
(exit 2, one line naming the setting and the fix) unless ``DURABILITY=none``. Re-checked by the
loop every ``RECHECK_S`` (a change is logged) and by every ``/readyz`` (503 with the reason). The
agent keeps its consumers draining meanwhile: consuming frees memory, it never adds events.
"""

import os
import time

import redis
from redis.exceptions import RedisError

from sluicegate.errors import ConfigurationError
from sluicegate.logs import Throttle, get_logger
from sluicegate.queue.memory import NodeMemory, eviction_problem, read_memory, unprotected, volatile

RECHECK_S = 30.0  # "within a minute" (issue 16), at one INFO per primary per half minute


class PolicyWatch:
    def __init__(self, durability: str, outage_log: Throttle) -> None:
        self.problem: str | None = None  # why Redis may evict accepted events, while it may
        self.checked = False
        self._durability = durability
        self._next_s = 0.0
        self._warned: set[str] = set()
        self._outage_log = outage_log  # the agent's: one line per outage period for all its calls
        self.log = get_logger(component="agent", pid=os.getpid())

    def turn(self, client: "redis.Redis") -> bool:
        """Check when due; whether the agent may fork (not before Redis has answered once).
        ``ConfigurationError`` when the first answer is a policy that may evict."""
        if time.monotonic() < self._next_s:
            return self.checked
        try:
            nodes = read_memory(client)
        except RedisError as error:
            held = self._outage_log.allow("redis")
            if held is not None:
                self.log.warning("redis-unavailable", error=str(error), held=held)
            if self.checked:  # not again at every turn: each call may cost the loop a timeout
                self._next_s = time.monotonic() + RECHECK_S
            return self.checked
        self._next_s = time.monotonic() + RECHECK_S
        self._learn(nodes)
        return self.checked

    def problem_now(self, client: "redis.Redis") -> str | None:
        """Ask Redis now (``/readyz``, from the HTTP thread with its own client)."""
        return self._problem(read_memory(client))

    def _problem(self, nodes: list[NodeMemory]) -> str | None:
        return eviction_problem(nodes) if self._durability != "none" else None

    def _learn(self, nodes: list[NodeMemory]) -> None:
        problem = self._problem(nodes)
        if problem is not None and not self.checked:
            raise ConfigurationError(problem)
        if problem != self.problem:
            if problem is None:
                self.log.info("redis-eviction-policy-safe")
            else:
                self.log.error("redis-may-evict", message=problem)
        self.problem, self.checked = problem, True
        for warning in filter(None, (unprotected(nodes), volatile(nodes))):
            if warning not in self._warned:
                self._warned.add(warning)
                self.log.warning("redis-memory-unprotected", message=warning)
