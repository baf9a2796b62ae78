"""The system the drill starts itself, and the single faults it can do to it.

Embedded Redis (AOF, ``appendfsync always``), SQLite in the folder (or a given PostgreSQL), the API
and the agents as subprocesses (``python -m sluicegate api|agent``, see ``service``), configured
through the usual variables with short TTLs so a SIGKILLed consumer's batch is reclaimed fast.
The agents (one by default, ``--agents M``; QUEUE_CONSUMERS from ``--consumers N``), and so every
consumer, reach Redis (and a PostgreSQL database given by host) through the drill's TCP proxies
(``proxy``), which the network faults control; the API and the drill's own observer reach them
directly. With several agents, an agent fault hits one of them per stop, each in turn. Each
fault is built on the primitives (``primitives``), as the chaos scenarios (``chaos``) are.
"""

import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

from sluicegate.drill import chaos, database, hook, procs
from sluicegate.drill.checker import KILLED_EXIT, IdVerdict, StopFacts
from sluicegate.drill.destination_down import destination_down, release
from sluicegate.drill.destinations import (
    ONLY_SQL,
    Destination,
    drill_destinations,
    write_destinations_file,
)
from sluicegate.drill.faults import (
    AgentScope,
    Fault,
    FaultContext,
    FaultResult,
    Inspection,
    database_outage,
    graceful_facts,
)
from sluicegate.drill.primitives import Primitives
from sluicegate.drill.proxy import Proxies, Proxy
from sluicegate.drill.redis_full import redis_full
from sluicegate.drill.schedule import PlannedStop
from sluicegate.drill.service import (
    Service,
    Stopped,
    agent_metrics_url,
    agent_ready,
    forked_consumers,
)
from sluicegate.embedded.server import EmbeddedServer, free_port
from sluicegate.process.liveness import process_name
from sluicegate.queue.topology import NO_TOPOLOGY, Topology
from sluicegate.settings import Settings

_AIM_TIMEOUT_S = 2.0
_NET_LATENCY_S = 0.2  # net-latency: as long as a consumer's read wait (QUEUE_BATCH_TIMEOUT)
_NET_RESET_EVERY_S = 0.3  # net-reset: reset every open connection this often
# API_TOKENS_FILE too: the drill posts without a token to the API it starts; and REDIS_TLS_*:
# its embedded Redis speaks plain redis://.
_INHERITED_SETTINGS = (
    "REDIS_HOST",
    "REDIS_CLUSTER_NODES",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_MASTER",
    "REDIS_PORT",
    "REDIS_TLS_CA_FILE",
    "REDIS_TLS_CERT_FILE",
    "REDIS_TLS_KEY_FILE",
    "DATABASE_URL",
    "SQLITE_FILEPATH",
    "API_TOKENS_FILE",
    "DESTINATIONS_FILE",
)


@dataclass(frozen=True, slots=True)
class Tuning:
    """Settings of the system the drill starts: short TTLs so a SIGKILL is reclaimed fast."""

    poll_s: float = 0.2
    batch_timeout_s: float = 0.2
    worker_ttl_s: float = 2.0
    shutdown_deadline_s: float = 5.0
    consumer_batch: int = 500
    agents: int = 1  # agent processes sharing the queue (--agents)
    consumers: int = 1  # QUEUE_CONSUMERS: consumers of one queue at once, all agents together
    destinations: tuple[str, ...] = ONLY_SQL  # --destinations: each queue delivers to all


def consumer_settings(tuning: Tuning) -> dict[str, str]:
    """QUEUE_CONSUMERS of the shape, and room for that many in one agent (MAX_CONSUMERS, raised
    only past its default): one agent alone must be able to take every slot of the queue."""
    settings = {"QUEUE_CONSUMERS": str(tuning.consumers)}
    default = Settings.model_fields["max_consumers"].get_default(call_default_factory=True)
    if tuning.consumers > default:
        settings["MAX_CONSUMERS"] = str(tuning.consumers)
    return settings


def _agent_label(number: int) -> str:
    """agent, agent2, agent3, …: the first keeps the one-agent drill's log names."""
    return "agent" if number == 1 else f"agent{number}"


def _through(url: SplitResult, port: int) -> str:
    """``url`` with its host and port replaced by the proxy's, its user and password kept."""
    userinfo, at, _ = url.netloc.rpartition("@")
    return urlunsplit(url._replace(netloc=f"{userinfo}{at}127.0.0.1:{port}"))


class LocalSystem:
    """Embedded Redis (AOF), SQLite or a given database, the API and the agents, in ``root``."""

    mode = "local"
    notes: tuple[str, ...] = ()

    def __init__(
        self, root: Path, tuning: Tuning, database_url: str | None = None, keep: bool = False
    ) -> None:
        self.root = root
        self.keep = keep  # the user chose the folder: never delete it
        self.tuning = tuning
        self.deadline_s = tuning.shutdown_deadline_s
        self.redis = EmbeddedServer(root / "redis")
        self.port = free_port()
        self.database_url = database_url or f"sqlite:///{root / 'events.db'}"
        self.destinations: list[Destination] = drill_destinations(
            tuning.destinations, self.database_url, root
        )
        env = self._env()
        self.api = Service("api", env, root, ready=lambda _: self.api_ready())
        redis_proxy = Proxy("127.0.0.1", self.redis.port, port=free_port())
        agent_env = env | {"REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}/0"}
        self.hook_dir, hooked = hook.install(root, "delta" in tuning.destinations)
        agent_env |= hooked  # kills aimed between a Delta commit and its ack
        proxies = [redis_proxy]
        database = urlsplit(self.database_url)
        several_hosts = "," in database.netloc  # a primary and standbys: not through one proxy
        if database.scheme.startswith("postgres") and database.hostname and not several_hosts:
            proxies.append(Proxy(database.hostname, database.port or 5432, port=free_port()))
            agent_env["DATABASE_URL"] = _through(database, proxies[-1].port)
        self.proxy = Proxies(proxies)
        self.agents = [
            Service("agent", agent_env, root, ready=agent_ready, label=_agent_label(number))
            for number in range(1, tuning.agents + 1)
        ]
        self.act = Primitives(self.api, self.agents, self.redis, self.proxy, self.api_ready)

    @property
    def agent(self) -> Service:
        """The first agent: the only one of a default drill (and of ``random``)."""
        return self.agents[0]

    @property
    def shape(self) -> dict[str, Any]:
        return {
            "agents": len(self.agents),
            "consumers_per_queue": self.tuning.consumers,
            "redis": "one Valkey server (embedded)",
            "durability": "aof (WAITAOF 1 0: the server's own fsync)",
            "destinations": ", ".join(d.name for d in self.destinations),
        }

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @property
    def redis_topology(self) -> Topology:
        return NO_TOPOLOGY  # its own plain server: nothing of the user's environment applies

    @property
    def faults(self) -> Mapping[str, Fault]:
        return {
            "term": self.term_agent,
            "kill": self.kill_agent,
            "kill-consumer": self.kill_consumer,
            "api-term": self.term_api,
            "redis-restart": self.restart_redis,
            "db-outage": self.database_outage,
            "redis-full": self.fill_redis,
            "net-latency": self.net_latency,
            "net-reset": self.net_reset,
            "net-blackhole": self.net_blackhole,
            "random": lambda ctx, stop: chaos.play(self.act, ctx, stop),
            **self._destination_faults(),
        }

    def _destination_faults(self) -> dict[str, Fault]:
        """destination-down, with two destinations or more."""
        if len(self.destinations) < 2:
            return {}

        def down(ctx: FaultContext, stop: PlannedStop) -> FaultResult:
            return destination_down(ctx, stop, self.destinations, self._agents_died)

        return {"destination-down": down}

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _INHERITED_SETTINGS}
        tuning = self.tuning
        return env | {
            "REDIS_URL": self.redis.url,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "AGENT_PORT": "0",  # a free port, logged: never collide with a running agent
            "SLUICEGATE_DATA_DIR": str(self.root),
            "LOG_LEVEL": "info",
            "DURABILITY": "aof",
            "QUEUE_POLL_FREQ": str(tuning.poll_s),
            "QUEUE_BATCH_TIMEOUT": str(tuning.batch_timeout_s),
            "QUEUE_AGENT_WORKER_TTL": str(tuning.worker_ttl_s),
            "QUEUE_BATCH_SIZE": str(tuning.consumer_batch),
            "SHUTDOWN_DEADLINE": str(tuning.shutdown_deadline_s),
            "DATABASE_URL": self.database_url,  # sqlite:///… or postgresql://…, as settings read it
            **consumer_settings(tuning),
            **write_destinations_file(self.tuning.destinations, self.root),
        }

    def api_ready(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/readyz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics_urls(self) -> list[str]:
        urls = (agent_metrics_url(agent) for agent in self.agents if agent.running)
        return [url for url in urls if url]

    def start(self) -> None:
        self.redis.start()
        self.proxy.start()
        self.start_services()

    def start_services(self) -> None:
        self.api.start()
        for agent in self.agents:
            agent.start()

    def shutdown(self, ctx: FaultContext) -> tuple[StopFacts | None, list[str]]:
        """Stop gracefully, the API first, then every agent at once (as ``docker compose down``
        does); each stop is checked, and then that nothing is left in flight or locked."""
        api = self.act.terminate(self.api, self.deadline_s)
        notes = [] if api.exit_code == 0 else [f"the API exited {api.exit_code} on SIGTERM"]
        drains = [self.act.sigterm(agent) for agent in self.agents]
        stops = [self.act.wait_drained(drain, self.deadline_s) for drain in drains]
        seen: Inspection = ctx.inspect()
        codes = [_exit_code(stopped) for stopped in stops]
        problems = [
            f"consumer {pid} outlived the {agent.label}"
            for agent, stopped in zip(self.agents, stops, strict=True)
            for pid in stopped.outlived
        ]
        if len(self.agents) > 1:
            problems += [
                f"{agent.label} exited {code} (want 0)"
                for agent, code in zip(self.agents, codes, strict=True)
                if code != 0
            ]
        facts = StopFacts(
            "term",
            IdVerdict.unchecked(),  # the end check, read right after, judges the ids
            exit_code=next((code for code in codes if code != 0), 0),
            stop_s=max(stopped.seconds for stopped in stops),
            deadline_s=self.deadline_s,
            stale_locks=seen.stale,
            in_flight=seen.counts.in_flight,
            notes=tuple(problems),
        )
        return facts, notes

    def kill_services(self) -> list[int]:
        """SIGKILL the API and every agent with its consumers; returns the pids killed."""
        return [pid for agent in self.agents for pid in agent.kill()] + self.api.kill()

    def teardown(self) -> list[str]:
        """Kill and reap everything; returns a problem for each process that would not die."""
        killed = self.kill_services()
        self.redis.kill()
        self.proxy.stop()
        release(self.root / "lake")  # a run cut short during destination-down
        survivors = procs.wait_gone(killed, timeout_s=5.0)
        return [f"process {pid} outlived the drill" for pid in survivors]

    def keep_files(self, passed: bool) -> str | None:
        if passed and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
            return None
        return f"logs and data kept in {self.root}"

    # The faults -------------------------------------------------------------------------------

    def _sigterm(self, ctx: FaultContext, stop: PlannedStop, service: Service) -> FaultResult:
        """SIGTERM as `docker stop` sends it, check the graceful stop, start the service again."""
        stopped = self.act.terminate(service, ctx.deadline_s)
        seen = ctx.inspect()
        agent = service in self.agents
        scope = self._scope(service) if agent and len(self.agents) > 1 else None
        facts = graceful_facts(ctx, stop, stopped, seen, agent=agent, scope=scope)
        recover_s = service.start()
        return FaultResult(facts, seen, recover_s, remark=self._which(service, stopped))

    def _scope(self, agent: Service) -> AgentScope:
        """What a stopped agent answers for while the others run on (read once it has exited)."""
        consumers = frozenset(process_name(pid) for pid in forked_consumers(agent))
        return AgentScope(process_name(agent.pid), consumers)

    def _which(self, agent: Service, stopped: Stopped | None = None) -> str | None:
        """Which of several agents a fault hit, for the table's remarks."""
        if len(self.agents) == 1 or agent not in self.agents:
            return None
        took = "" if stopped is None else f", stopped in {stopped.seconds:.1f} s"
        return f"{agent.label} (pid {agent.pid}{took})"

    def _victim(self, ctx: FaultContext, stop: PlannedStop) -> Service:
        return self.agents[ctx.victim(stop, len(self.agents))]

    def term_agent(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        agent = self._victim(ctx, stop)
        self.act.aim(ctx, agent)
        return self._sigterm(ctx, stop, agent)

    def term_api(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        return self._sigterm(ctx, stop, self.api)

    def kill_agent(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        agent = self._victim(ctx, stop)
        victim, how = self.act.aim_kill(ctx, self.hook_dir, agent)
        which = self._which(agent)
        remark = ", ".join(filter(None, [which, f"consumer {victim} {how}" if victim else None]))
        killed = self.act.kill_agent(agent, victim)
        ctx.killed.update(killed)
        seen = ctx.inspect()
        recover_s = agent.start()
        orphaned = ctx.wait_reclaimed([ctx.consumer_name(pid) for pid in killed])
        facts = StopFacts(stop.kind, seen.ids, orphaned=orphaned)
        return FaultResult(facts, seen, recover_s, remark=remark or None)

    def kill_consumer(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        victim, how = self.act.aim_kill(ctx, self.hook_dir, turn=ctx.seed + stop.number)
        if victim is None:
            seen = ctx.inspect()
            return FaultResult(
                StopFacts(stop.kind, seen.ids),
                seen,
                remark="no consumer was running (nothing to consume): skipped",
            )
        ctx.killed.add(victim)
        self.act.kill_consumer(victim)
        seen = ctx.inspect()
        orphaned = ctx.wait_reclaimed([ctx.consumer_name(victim)])
        notes = self._agents_died("when its consumer was killed")
        return FaultResult(
            StopFacts(stop.kind, seen.ids, orphaned=orphaned, notes=notes),
            seen,
            remark=f"killed consumer {victim} {how}",
        )

    def _agents_died(self, during: str) -> tuple[str, ...]:
        """A problem for each agent that is not running after a fault that should spare them."""
        down = [agent for agent in self.agents if not agent.running]
        return tuple(f"the {agent.label} died {during}" for agent in down)

    def restart_redis(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        started = time.monotonic()
        self.act.restart_redis(stop.hard)
        back = ctx.observer.wait_until(self.api_ready, timeout_s=30.0)
        recover_s = time.monotonic() - started
        seen = ctx.inspect()
        notes = [] if back else ["the API did not become ready again after the Redis restart"]
        notes += self._agents_died("during the Redis restart")
        return FaultResult(StopFacts(stop.kind, seen.ids, notes=tuple(notes)), seen, recover_s)

    def database_outage(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        return database_outage(ctx, stop, agents_died=self._agents_died)

    def fill_redis(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        return redis_full(ctx, stop, self.memory_nodes(), self._agents_died)

    def memory_nodes(self) -> list[str]:
        """The servers that hold the queues: their maxmemory is what fills up."""
        return [self.redis.url]

    def _network(
        self,
        ctx: FaultContext,
        stop: PlannedStop,
        begin: Callable[[], object],
        remark: str,
        hold: bool = True,
    ) -> FaultResult:
        """A network fault between the consumers and Redis for ``outage_s``, mid-batch."""
        self.act.aim(ctx)
        try:
            begin()
            if hold:
                database.hold(ctx.outage_s)
        finally:
            self.act.heal_network()
        seen = ctx.inspect()
        notes = self._agents_died(f"during the {stop.label}")
        return FaultResult(StopFacts(stop.kind, seen.ids, notes=notes), seen, remark=remark)

    def net_latency(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        remark = f"+{_NET_LATENCY_S * 1000:.0f} ms each way for {ctx.outage_s:.1f} s"
        return self._network(ctx, stop, lambda: self.act.slow_network(_NET_LATENCY_S), remark)

    def net_blackhole(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        remark = f"nothing through for {ctx.outage_s:.1f} s"
        return self._network(ctx, stop, self.act.cut_network, remark)

    def net_reset(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        def resets() -> None:
            for _ in range(int(ctx.outage_s / _NET_RESET_EVERY_S)):
                self.act.reset_connections()
                database.hold(_NET_RESET_EVERY_S)

        remark = f"connections reset for {ctx.outage_s:.1f} s"
        return self._network(ctx, stop, resets, remark, hold=False)


def _exit_code(stopped: Stopped) -> int:
    return KILLED_EXIT if stopped.exit_code is None else stopped.exit_code
