"""The fault primitives of the system the drill starts: each one acts and says what it did.

SIGTERM a service and wait for its exit, SIGKILL an agent with its consumers or one consumer,
restart Redis, slow, cut or reset the network between the consumers and Redis, and aim: wait for
the worst moment (a consumer holding a batch). None of them judges: the faults gather the facts
and ``checker`` judges them. The single faults (``local.LocalSystem``) and the chaos scenarios
(``chaos``) are both built on these, so a fault is written once.
"""

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sluicegate.drill import hook, procs
from sluicegate.drill.faults import FaultContext
from sluicegate.drill.proxy import Proxies
from sluicegate.drill.service import Service, Stopped
from sluicegate.embedded.server import EmbeddedServer

_AIM_TIMEOUT_S = 2.0
_KILL_WAIT_S = 5.0


@dataclass
class Drain:
    """A SIGTERM sent to a service at ``started``; ``children`` were its processes then."""

    service: Service
    started: float
    children: list[int]


class Primitives:
    """What the drill can do to the services, Redis and the network it started."""

    def __init__(
        self,
        api: Service,
        agents: list[Service],
        redis: EmbeddedServer,
        proxy: Proxies,
        api_ready: Callable[[], bool],
    ) -> None:
        self.api = api
        self.agents = agents
        self.redis = redis
        self.proxy = proxy
        self.api_ready = api_ready

    @property
    def agent(self) -> Service:
        """The first agent: the only one of a default drill (and of ``random``)."""
        return self.agents[0]

    # Processes -----------------------------------------------------------------------------------

    def sigterm(self, service: Service) -> Drain:
        """SIGTERM as ``docker stop`` sends it, without waiting."""
        started = time.monotonic()
        _, children = service.signal()
        return Drain(service, started, children)

    def wait_drained(self, drain: Drain, deadline_s: float) -> Stopped:
        """Wait for the exit of a service SIGTERMed; past the deadline, kill its tree."""
        return drain.service.wait_stopped(drain.started, drain.children, deadline_s)

    def terminate(self, service: Service, deadline_s: float) -> Stopped:
        return self.wait_drained(self.sigterm(service), deadline_s)

    def kill_agent(self, agent: Service, victim: int | None = None) -> list[int]:
        """SIGKILL ``agent`` and its consumers, ``victim`` (a busy consumer) first, the agent
        stopped meanwhile so that it cannot fork or reap; returns the consumers killed."""
        procs.send([agent.pid], signal.SIGSTOP)
        if victim is not None:  # before it can finish its batch
            procs.send([victim], signal.SIGKILL)
        return [*agent.kill(), *([victim] if victim is not None else [])]

    def kill_consumer(self, pid: int) -> None:
        procs.send([pid], signal.SIGKILL)
        procs.wait_gone([pid], timeout_s=_KILL_WAIT_S)

    def restart_redis(self, hard: bool) -> None:
        """Restart Redis: SHUTDOWN (``hard``: SIGKILL) and start again on its AOF."""
        self.redis.restart(hard=hard)

    # The network between the consumers and Redis (and a PostgreSQL given by host) ----------------

    def slow_network(self, latency_s: float) -> None:
        self.proxy.set_latency(latency_s)

    def cut_network(self, cut: bool = True) -> None:
        self.proxy.blackhole(cut)

    def reset_connections(self) -> None:
        self.proxy.reset()

    def heal_network(self) -> None:
        self.proxy.clear()

    # Aiming --------------------------------------------------------------------------------------

    def aim(
        self,
        ctx: FaultContext,
        agent: Service | None = None,
        turn: int = 0,
        freeze: bool = False,
    ) -> int | None:
        """Wait for the worst moment to hit an agent: a consumer holding a batch. Returns its pid
        (one of ``agent``'s if given, else of any agent's: the ``turn``-th one, in turn).

        With a backlog, wait for a consumer to be forked (a restarted agent forks once the killed
        one's lock expires); with several agents, then briefly for one of ``agent``'s own (the
        others may hold every slot); then, briefly, for one holding entries in flight, so the
        fault lands mid-batch.
        """
        backlog = ctx.observer.counts().depth > 0
        timeout_s = ctx.reclaim_timeout_s if backlog else _AIM_TIMEOUT_S
        consumer = self._a_consumer(ctx, self.agents, timeout_s, turn)
        agents = self.agents if agent is None else [agent]
        if agent is not None and len(self.agents) > 1:
            consumer = self._a_consumer(ctx, agents, _AIM_TIMEOUT_S)
        if consumer is None:
            return None
        busy: list[int] = []

        def holding() -> bool:
            busy[:] = self._catch_busy(ctx, agents, freeze, turn)
            return bool(busy)

        ctx.observer.wait_until(holding, _AIM_TIMEOUT_S, interval_s=0.002)
        return busy[0] if busy else consumer

    def aim_kill(
        self,
        ctx: FaultContext,
        hook_dir: Path | None,
        agent: Service | None = None,
        turn: int = 0,
    ) -> tuple[int | None, str]:
        """The consumer a SIGKILL should hit: with the drill's hook (a Delta destination), one
        stopped between its Delta commit and its ack; else, or when none commits in time, one
        holding a batch (``aim``). Also how it was caught, for the remark."""
        if hook_dir is not None:
            caught = self.catch_after_commit(ctx, hook_dir, "delta")
            if caught is not None:
                return caught, "between its delta commit and its ack"
        victim = self.aim(ctx, agent, turn=turn, freeze=True)
        late = " (no delta commit to catch)" if hook_dir is not None else ""
        return victim, f"holding a batch{late}"

    def catch_after_commit(self, ctx: FaultContext, folder: Path, kind: str) -> int | None:
        """Ask the consumers (through the drill's hook, ``hook``) for one to stop itself right
        after its next commit into a ``kind`` destination, before the ack; its pid once it is
        stopped there, or None when none committed in time (nothing left to write)."""
        for stale in folder.glob(f"{hook.CAUGHT}*"):
            stale.unlink()
        request = folder / f"{hook.AIM}.new"
        request.write_text(kind)
        request.rename(folder / hook.AIM)  # whole at once: never read half written
        backlog = ctx.observer.counts().depth > 0
        timeout_s = ctx.reclaim_timeout_s if backlog else _AIM_TIMEOUT_S
        caught = ctx.observer.wait_until(lambda: _caught(folder) is not None, timeout_s)
        if not caught:
            try:
                (folder / hook.AIM).unlink()
            except FileNotFoundError:  # claimed as the wait ran out
                ctx.observer.wait_until(lambda: _caught(folder) is not None, _AIM_TIMEOUT_S)
        found = _caught(folder)
        if found is None:
            return None
        pid = int(found.name.removeprefix(hook.CAUGHT))
        found.unlink()
        ctx.observer.wait_until(lambda: procs.is_stopped(pid), _AIM_TIMEOUT_S, interval_s=0.002)
        return pid

    def _a_consumer(
        self, ctx: FaultContext, agents: list[Service], timeout_s: float, turn: int = 0
    ) -> int | None:
        """A consumer ``agents`` forked (the ``turn``-th of those running, in turn), waiting a
        little for one if the queue has work."""
        found: list[int] = []

        def look() -> bool:
            found[:] = [pid for agent in agents for pid in agent.children()]
            return bool(found)

        ctx.observer.wait_until(look, timeout_s=timeout_s)
        return found[turn % len(found)] if found else None

    def _catch_busy(
        self, ctx: FaultContext, agents: list[Service], freeze: bool, turn: int
    ) -> list[int]:
        """Busy consumers, the ``turn``-th first; with ``freeze``, that one stopped (SIGSTOP)
        while it still holds entries, so the kill that follows lands mid-batch (a batch of a
        queue with little work takes milliseconds, less than a look and a kill)."""
        busy = self._busy_consumers(ctx, agents)
        if not busy:
            return busy
        first = turn % len(busy)
        busy = busy[first:] + busy[:first]
        if not freeze:
            return busy
        procs.send(busy[:1], signal.SIGSTOP)
        if ctx.observer.pending_by_consumer().get(ctx.consumer_name(busy[0]), 0):
            return busy[:1]
        procs.send(busy[:1], signal.SIGCONT)
        return []

    def _busy_consumers(self, ctx: FaultContext, agents: list[Service]) -> list[int]:
        """The agents' consumers holding entries in flight, in any of the drill's queues: with
        more queues than consumers, a consumer serves several in turn, so the first child is
        not necessarily the one with a batch."""
        children = [pid for agent in agents for pid in agent.children()]  # first: the slow part
        held = ctx.observer.pending_by_consumer()
        return [pid for pid in children if held.get(ctx.consumer_name(pid), 0) > 0]


def _caught(folder: Path) -> Path | None:
    return next(iter(folder.glob(f"{hook.CAUGHT}*")), None)
