"""The agent: keep up to MAX_CONSUMERS consumer processes while there is work; shut down in order.

A consumer serves queues in turn (``worker/consumer_loop.py``), so the number of processes and
database connections is bounded by MAX_CONSUMERS however many queues there are.

State machine RUNNING -> DRAINING -> STOPPED. The only way out of RUNNING is a SIGTERM or SIGINT;
the decision to fork is checked against the signals received *with those signals held back*, so
a fork can never follow the signal, however close the two are.
"""

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import NoReturn

import redis
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.exceptions import RedisClusterException, RedisError

from sluicegate import tracing
from sluicegate.destination.config import load_destinations
from sluicegate.destination.work import read_count, work_by_lane
from sluicegate.logs import Throttle, get_logger
from sluicegate.process.liveness import is_gone, process_name
from sluicegate.process.signals import TERMINATING, SignalInbox, deferred
from sluicegate.queue.client import (
    TRANSIENT_REDIS_ERRORS,
    is_cluster,
    sync_client,
)
from sluicegate.queue.lanes import Lane
from sluicegate.queue.lock import (
    LockEntry,
    held_lane_slots,
    new_lock_entry,
    release_all,
    release_any_slot,
)
from sluicegate.queue.topology import Topology
from sluicegate.repository.standbys_check import look_at_standbys
from sluicegate.settings import Settings
from sluicegate.worker.agent_http import AgentHttp
from sluicegate.worker.agent_metrics import AgentMetrics, BoardCollector
from sluicegate.worker.board import Board
from sluicegate.worker.consumer_loop import Place
from sluicegate.worker.crash_backoff import CrashLoops
from sluicegate.worker.fork import (
    DEFAULT_CONSUMER,
    exit_reason,
    load_consumer_class,
    run_consumer_process,
)
from sluicegate.worker.policy_watch import PolicyWatch
from sluicegate.worker.retries import OUTAGE_LOG_PERIOD_S

_REAP_POLL_S = 0.05
# The loop's Redis calls give up after this, without retrying (the next turn is the retry): the
# loop must turn to see a SIGTERM, and a call lost in a network partition would otherwise hold
# it for three socket timeouts of 10 s, past any shutdown deadline (drill --fault random,
# seed 147: agent-down during net-blackhole).
LOOP_REDIS_TIMEOUT_S = 1.0
# What a stop keeps of SHUTDOWN_DEADLINE (at most a quarter of it, for short deadlines): time to
# leave the process (``leave``: 0.02-0.03 s), and before that a round trip of at most
# LOOP_REDIS_TIMEOUT_S to release the locks of the consumers it had to kill.
EXIT_RESERVE_S = 0.25
KILL_RESERVE_S = LOOP_REDIS_TIMEOUT_S + EXIT_RESERVE_S
# /livez fails when the loop has not turned for this long: stuck, not merely waiting on Redis.
_STUCK_AFTER_S = 30.0
_PROBE_TIMEOUT_S = 2.0
_TEXT = "text/plain; charset=utf-8"


class AgentState(Enum):
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ForkedConsumer:
    pid: int
    row: int  # its row on the board: the lock it holds, if any


class Agent:
    def __init__(
        self, settings: Settings, redis_url: str, before_fork: Callable[[], None] | None = None
    ) -> None:
        """``before_fork`` runs before every fork decision: a test lines up a race with it."""
        self.log = get_logger(component="agent", pid=os.getpid())
        self.settings = settings
        self.database_warning = look_at_standbys(settings, self.log)
        self.redis_url = redis_url
        self.state = AgentState.RUNNING
        self.consumers: dict[int, ForkedConsumer] = {}
        self.forced = False
        self.name = process_name()  # written into every lock its consumers take
        self.destinations = load_destinations(settings.destinations_file)
        # Mapped before any fork: shared with the consumers (a database backoff per destination).
        self.board = Board(settings.max_consumers, self.destinations.names)
        self._redis: redis.Redis | None = None  # the loop's, made once Redis answers
        self._inbox: SignalInbox | None = None
        self._last_turn = time.monotonic()
        self._before_fork = before_fork or (lambda: None)
        self._outage_log = Throttle(OUTAGE_LOG_PERIOD_S)
        self._policy = PolicyWatch(settings.durability, self._outage_log)
        self._crash_loops = CrashLoops(settings, self.log)
        self._consumer_class = load_consumer_class(settings.consumer_class)
        if self._consumer_class is not load_consumer_class(DEFAULT_CONSUMER):
            self.log.warning("consumer-class-replaced", consumer_class=settings.consumer_class)

    def run(self) -> int:
        """Wait for Redis, serve until a signal, then drain; the exit code is 0 after a
        graceful stop, and after a stop signal that came while Redis was not there yet."""
        self._inbox = SignalInbox([signal.SIGTERM, signal.SIGINT, signal.SIGCHLD])
        try:
            if not self._await_redis():
                self.log.info("agent-stopped", forced=self.forced, started=False)
                return 0
            return self._serve()
        finally:
            if self._redis is not None:
                self._redis.close()
            self._inbox.close()

    def _await_redis(self) -> bool:
        """Learn the cluster mode and make the clients, waiting while Redis (every seed) is
        away; False when a stop signal comes first (found by ``drill --fault random``: an
        agent restarted in a network black hole died at start; a SIGTERM then killed it)."""
        assert self._inbox is not None
        quiet = Throttle(OUTAGE_LOG_PERIOD_S)
        while self._still_running():
            try:
                self._connect()
                return True
            except (*TRANSIENT_REDIS_ERRORS, RedisClusterException) as error:
                held = quiet.allow("redis")
                if held is not None:
                    self.log.warning("redis-unavailable", error=str(error), held=held)
            self._inbox.wait(self.settings.queue_poll_freq_s)
        return False

    def _connect(self) -> None:
        """REDIS_CLUSTER=auto asks the server once, here, and the consumers inherit the
        answer; the loop's client and the HTTP thread's own (never shared between threads)."""
        settings = self.settings
        topology = Topology.of(settings)
        cluster = is_cluster(self.redis_url, settings.redis_cluster, topology)
        self.settings = settings.model_copy(update={"redis_cluster": "yes" if cluster else "no"})
        # The loop's Redis calls give up after LOOP_REDIS_TIMEOUT_S and are not retried.
        loop_client = self._client_of(LOOP_REDIS_TIMEOUT_S, retries=0)
        try:
            self._http_client = self._client_of(_PROBE_TIMEOUT_S)
        except BaseException:
            loop_client.close()
            raise
        self._redis = loop_client
        self.metrics = AgentMetrics(self._http_client)
        self.metrics.registry.register(BoardCollector(self.board))
        self.http = AgentHttp(
            settings.agent_host,
            settings.agent_port,
            {"/livez": self._livez, "/readyz": self._readyz, "/metrics": self._metrics},
            self.metrics.receive,
        )

    def _client_of(self, timeout_s: float, retries: int = 2) -> "redis.Redis":
        return sync_client(
            self.redis_url,
            socket_timeout_s=timeout_s,
            cluster=self.settings.redis_cluster,
            topology=Topology.of(self.settings),
            retries=retries,
        )

    def _serve(self) -> int:
        assert self._inbox is not None
        try:
            self.http.start()
        except OSError as error:
            self.log.error("agent-http-failed", port=self.settings.agent_port, error=str(error))
            return 1
        self.log.info(
            "agent-started",
            poll_s=self.settings.queue_poll_freq_s,
            http_port=self.http.port,
            max_consumers=self.settings.max_consumers,
            queue_consumers=self.settings.queue_consumers,
        )
        try:
            while self._still_running():
                self._last_turn = time.monotonic()
                self._reap()
                if self._policy.turn(self._client):  # allkeys-* at start: exit 2
                    self._spawn_where_needed()
                self._inbox.wait(self.settings.queue_poll_freq_s)
            self._drain()
        finally:
            self.state = AgentState.STOPPED
            self.http.stop()
            self._http_client.close()
        self.log.info("agent-stopped", forced=self.forced)
        return 1 if self.forced else 0

    @property
    def _client(self) -> "redis.Redis":
        assert self._redis is not None, "made by _connect before the loop starts"
        return self._redis

    def _still_running(self) -> bool:
        assert self._inbox is not None
        self._observe(self._inbox.take())
        return self.state is AgentState.RUNNING

    def _observe(self, received: list[int]) -> None:
        """The state machine's transitions: first stop signal drains, a second one forces."""
        for signum in received:
            if signum not in TERMINATING:
                continue
            if self.state is AgentState.RUNNING:
                self.state = AgentState.DRAINING
                self.log.info("stop-signal-received", signal=signal.Signals(signum).name)
            else:
                self.forced = True
                self.log.warning("second-stop-signal", signal=signal.Signals(signum).name)

    def _livez(self) -> tuple[int, str, bytes]:
        if time.monotonic() - self._last_turn > _STUCK_AFTER_S:
            return 503, _TEXT, b"the agent's loop is stuck\n"
        return 200, _TEXT, b"alive\n"

    def _readyz(self) -> tuple[int, str, bytes]:
        if self.state is not AgentState.RUNNING:
            return 503, _TEXT, b"draining\n"
        try:
            problem = self._policy.problem_now(self._http_client)
        except (RedisError, OSError):
            return 503, _TEXT, b"the queue store (Redis) is unreachable\n"
        if problem is not None:  # a policy that may evict, set at run time (at start: exit 2)
            return 503, _TEXT, f"{problem}\n".encode()
        if self.database_warning:
            return 200, _TEXT, f"ready\nwarning: {self.database_warning}\n".encode()
        return 200, _TEXT, b"ready\n"

    def _metrics(self) -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE_LATEST, self.metrics.render()

    def _spawn_where_needed(self) -> None:
        if not self._crash_loops.may_fork():
            return  # consumers died early for no queue's reason: wait out the backoff
        try:
            wanted = self._consumers_wanted()
        except RedisError as error:
            held = self._outage_log.allow("redis")
            if held is not None:
                self.log.warning("redis-unavailable", error=str(error), held=held)
            return
        for _ in range(wanted - len(self.consumers)):
            if not self._fork():
                return

    def _consumers_wanted(self) -> int:
        """How many consumers this agent should run: one per batch of work, at most
        QUEUE_CONSUMERS per lane (a queue and one of its destinations), less the slots other
        agents' consumers hold, at most MAX_CONSUMERS. Consumers that find nothing to do exit
        after a TTL."""
        settings = self.settings
        lanes = work_by_lane(self._client, self.destinations)
        work = self._crash_loops.queues_to_serve(self._client, lanes, self.board.backing_off())
        demand = sum(
            min(settings.queue_consumers, -(-length // self._read_count(lane)))
            for lane, length in work.items()
        )
        if demand > len(self.consumers):
            held = held_lane_slots(self._client, list(work), settings.queue_consumers)
            demand -= sum(1 for holders in held.values() for e in holders if self._others(e))
        return min(settings.max_consumers, demand)

    def _read_count(self, lane: Lane) -> int:
        return read_count(self.destinations.named(lane.destination), self.settings)

    def _others(self, entry: LockEntry) -> bool:
        """Held by a live consumer of another agent (a dead one's slot is taken over at once)."""
        return entry.agent != self.name and not is_gone(entry.process)

    def _fork(self) -> bool:
        """Fork a consumer unless a stop signal came first. False once draining."""
        self._before_fork()
        with deferred():
            if not self._still_running():
                self.log.info("fork-skipped-draining")
                return False
            used = {consumer.row for consumer in self.consumers.values()}
            row = min(set(range(self.settings.max_consumers)) - used)
            self.board.hold(row, None)
            identity = new_lock_entry("", agent=self.name)
            agent_pid = os.getpid()
            with self.http.gate:  # the HTTP thread holds no lock while we fork (agent_http.py)
                pid = os.fork()
            if pid == 0:
                self.http.close_in_child()
                run_consumer_process(
                    self.settings,
                    self.redis_url,
                    identity,
                    agent_pid,
                    self._consumer_class,
                    Place(self.board, row, self.http.figures_fd),
                    self.destinations,
                )
        self.consumers[pid] = ForkedConsumer(pid, row)
        self.metrics.processes.inc()
        self._crash_loops.forked(pid)
        self.log.info("fork-node-process", consumer_pid=pid, row=row)
        return True

    def _reap(self) -> None:
        """Collect every exited consumer (no zombies) and release its lock if it could not."""
        while self.consumers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            consumer = self.consumers.pop(pid, None)
            if consumer is not None:
                exit_code = os.waitstatus_to_exitcode(status)
                self._forget(consumer, exit_code)
                if self.state is AgentState.RUNNING:
                    self._crash_loops.exited(pid, exit_code)

    def _forget(
        self,
        consumer: ForkedConsumer,
        exit_code: int,
        release: bool = True,
        released: bool = False,
    ) -> None:
        """Release what the consumer held when it died (the board says which lock), so its
        queue is served again at once; a clean exit left nothing. ``release=False``: the caller
        released it already (``released`` says whether it was held)."""
        self.metrics.processes.dec()
        held = self.board.holding(consumer.row)
        self.board.hold(consumer.row, None)
        queue = destination = None
        if held is not None:
            entry = LockEntry.decode(held)
            queue, destination = entry.queue, entry.destination
            if release:
                released = self._release(entry)
            if released:  # it died in the middle of a visit: the visit ends here
                reason = exit_reason(exit_code) or "stop"
                self.metrics.consumer_gone(queue, reason, destination)
        self.log.info(
            "stopped-node-process",
            queue=queue,
            destination=destination,
            consumer_pid=consumer.pid,
            exit_code=exit_code,
            released_stale_entry=released,
        )

    def _release(self, entry: LockEntry) -> bool:
        try:
            return release_any_slot(self._client, entry, self.settings.queue_consumers)
        except RedisError as error:
            self.log.warning("lock-release-failed", queue=entry.queue, error=str(error))
            return False

    def _drain(self) -> None:
        """Ask every consumer to stop and wait for them; at the deadline, counted from the
        signal's arrival, kill what is left and release what the killed held in one round trip
        if the time left allows (else their locks expire after their TTL)."""
        assert self._inbox is not None
        arrived_s = self._inbox.stop_arrived_s or time.monotonic()
        deadline_s = self.settings.shutdown_deadline_s
        end_s = arrived_s + deadline_s - min(EXIT_RESERVE_S, deadline_s / 10)
        deadline = arrived_s + deadline_s - min(KILL_RESERVE_S, deadline_s / 4)
        self.log.info("stop-node-process", consumer_pids=sorted(self.consumers))
        for pid in self.consumers:
            _signal(pid, signal.SIGTERM)
        while self.consumers and not self.forced and time.monotonic() < deadline:
            self._last_turn = time.monotonic()
            self._inbox.wait(min(_REAP_POLL_S, deadline - time.monotonic()))
            self._observe(self._inbox.take())
            self._reap()
        for pid in self.consumers:
            self.log.warning("kill-node-process", consumer_pid=pid)
            _signal(pid, signal.SIGKILL)
        killed = []
        for pid in list(self.consumers):
            _, status = os.waitpid(pid, 0)
            killed.append((self.consumers.pop(pid), os.waitstatus_to_exitcode(status)))
        self._forget_killed(killed, end_s)

    def _forget_killed(self, killed: list[tuple[ForkedConsumer, int]], end_s: float) -> None:
        held = [self.board.holding(consumer.row) for consumer, _ in killed]
        entries = [LockEntry.decode(raw) for raw in held if raw is not None]
        answers = iter(self._release_within(entries, end_s - time.monotonic()))
        for (consumer, exit_code), raw in zip(killed, held, strict=True):
            was_released = raw is not None and next(answers, False)
            self._forget(consumer, exit_code, release=False, released=was_released)

    def _release_within(self, entries: list[LockEntry], budget_s: float) -> list[bool]:
        """Release the killed consumers' locks in one round trip, waiting for it ``budget_s``
        at most: a slow Redis (a reconnection and a round trip of a second each, measured at
        +0.5 s each way) must not hold the stop past its deadline. What is not released by
        then expires after its TTL (the thread goes on meanwhile, and dies with the agent)."""
        if not entries:
            return []
        answer: list[list[bool]] = []

        def release() -> None:
            try:
                answer.append(release_all(self._client, entries, self.settings.queue_consumers))
            except Exception as error:  # the agent may be closing the client under it
                self.log.warning("lock-release-failed", error=str(error))

        worker = threading.Thread(target=release, name="release-locks", daemon=True)
        worker.start()
        worker.join(max(budget_s, 0.0))
        if not answer:
            self.log.warning("locks-left-to-expire", queues=[entry.queue for entry in entries])
        return answer[0] if answer else []


def leave(code: int) -> NoReturn:
    """End the agent's process once ``run`` has returned: export the spans, flush the logs, and
    ``os._exit``. The interpreter's own teardown of every module took 0.5-0.8 s on a loaded
    2-core machine, paid out of SHUTDOWN_DEADLINE (a stop measured at 5.03 s against 5 s);
    ``run`` has closed everything, so nothing is left for it to do."""
    tracing.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # exited meanwhile; _reap collects it
