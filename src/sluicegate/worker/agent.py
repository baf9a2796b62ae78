"""The agent: watch the queues, fork one consumer per queue with work, and shut down in order.

State machine RUNNING -> DRAINING -> STOPPED. The only way out of RUNNING is a SIGTERM or SIGINT;
the decision to fork is checked against the signals received *with those signals held back*, so
a fork can never follow the signal, however close the two are.
"""

import os
import signal
import time
from dataclasses import dataclass, replace
from enum import Enum

import redis
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from sluicegate.logs import get_logger
from sluicegate.queue.client import sync_client
from sluicegate.queue.stats import queues_with_work
from sluicegate.settings import Settings
from sluicegate.worker.agent_http import AgentHttp
from sluicegate.worker.agent_metrics import AgentMetrics
from sluicegate.worker.consumer_process import (
    DEFAULT_CONSUMER,
    exit_reason,
    load_consumer_class,
    run_consumer_process,
)
from sluicegate.worker.liveness import is_gone, process_name
from sluicegate.worker.lock import (
    LockEntry,
    lock_holder,
    locked_queues,
    new_lock_entry,
    release_lock,
)
from sluicegate.worker.signals import TERMINATING, SignalInbox, deferred
from sluicegate.worker.testing_hooks import pause_before_fork

_REAP_POLL_S = 0.05
# /livez fails when the loop has not turned for this long: stuck, not merely waiting on Redis
# (whose calls time out after 10 s).
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
    entry: LockEntry  # as the consumer registers it: the agent's token, its own pid


class Agent:
    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.state = AgentState.RUNNING
        self.consumers: dict[int, ForkedConsumer] = {}
        self.forced = False
        self.log = get_logger(component="agent", pid=os.getpid())
        self._redis: redis.Redis | None = None  # made on first use, in the agent only
        self._inbox: SignalInbox | None = None
        self._last_turn = time.monotonic()
        # The HTTP thread's own client: the loop's is never shared between threads.
        self._http_client = sync_client(
            redis_url, socket_timeout_s=_PROBE_TIMEOUT_S, cluster=settings.redis_cluster
        )
        self.metrics = AgentMetrics(self._http_client)
        self.http = AgentHttp(
            settings.agent_host,
            settings.agent_port,
            {"/livez": self._livez, "/readyz": self._readyz, "/metrics": self._metrics},
            self.metrics.receive,
        )
        self._consumer_class = load_consumer_class(settings.consumer_class)
        if settings.consumer_class != DEFAULT_CONSUMER:
            self.log.warning("consumer-class-replaced", consumer_class=settings.consumer_class)

    def run(self) -> int:
        """Serve until a signal, then drain; the exit code is 0 after a graceful stop."""
        self._inbox = SignalInbox([signal.SIGTERM, signal.SIGINT, signal.SIGCHLD])
        try:
            self.http.start()
        except OSError as error:
            self._inbox.close()
            self.log.error("agent-http-failed", port=self.settings.agent_port, error=str(error))
            return 1
        self.log.info(
            "agent-started",
            poll_s=self.settings.queue_poll_freq_s,
            http_port=self.http.port,
        )
        try:
            while self._still_running():
                self._last_turn = time.monotonic()
                self._reap()
                self._spawn_where_needed()
                self._inbox.wait(self.settings.queue_poll_freq_s)
            self._drain()
        finally:
            self.state = AgentState.STOPPED
            self.http.stop()
            self._http_client.close()
            if self._redis is not None:
                self._redis.close()
            self._inbox.close()
        self.log.info("agent-stopped", forced=self.forced)
        return 1 if self.forced else 0

    @property
    def _client(self) -> "redis.Redis":
        """Made at first use: telling a cluster from a server needs Redis to answer."""
        if self._redis is None:
            self._redis = sync_client(self.redis_url, cluster=self.settings.redis_cluster)
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
            self._http_client.ping()
        except (RedisError, OSError):
            return 503, _TEXT, b"the queue store (Redis) is unreachable\n"
        return 200, _TEXT, b"ready\n"

    def _metrics(self) -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE_LATEST, self.metrics.render()

    def _spawn_where_needed(self) -> None:
        try:
            queues = self._queues_needing_a_consumer()
        except RedisError as error:
            self.log.warning("redis-unavailable", error=str(error))
            return
        for queue in queues:
            if not self._fork(queue):
                return

    def _queues_needing_a_consumer(self) -> list[str]:
        """Queues with events (queued or pending) and no consumer, ours or anyone's."""
        ours = {consumer.entry.queue for consumer in self.consumers.values()}
        queues = [queue for queue in queues_with_work(self._client) if queue not in ours]
        locked = locked_queues(self._client, queues)
        return [
            queue for queue in queues if queue not in locked or self._released_stale_lock(queue)
        ]

    def _released_stale_lock(self, queue: str) -> bool:
        """Free a lock whose holder certainly died (SIGKILL, OOM) now, not when its TTL runs out."""
        client = self._client
        holder = lock_holder(client, queue)
        if holder is None:
            return True
        if not (holder.process and is_gone(holder.process)):
            return False
        released = release_lock(client, holder)
        if released:
            self.log.warning("stale-lock-released", queue=queue, holder=holder.process)
        return released

    def _fork(self, queue: str) -> bool:
        """Fork a consumer for ``queue`` unless a stop signal came first. False once draining."""
        pause_before_fork()
        with deferred():
            if not self._still_running():
                self.log.info("fork-skipped-draining", queue=queue)
                return False
            entry = new_lock_entry(queue)
            agent_pid = os.getpid()
            with self.http.gate:  # the HTTP thread holds no lock while we fork (agent_http.py)
                pid = os.fork()
            if pid == 0:
                self.http.close_in_child()
                run_consumer_process(
                    self.settings,
                    self.redis_url,
                    entry,
                    agent_pid,
                    self._consumer_class,
                    self.http.figures_fd,
                )
        self.consumers[pid] = ForkedConsumer(
            pid, replace(entry, pid=pid, process=process_name(pid))
        )
        self.metrics.consumer_started(queue)
        self.log.info("fork-node-process", queue=queue, consumer_pid=pid)
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
                self._forget(consumer, os.waitstatus_to_exitcode(status))

    def _forget(self, consumer: ForkedConsumer, exit_code: int) -> None:
        self.metrics.consumer_gone(consumer.entry.queue, exit_reason(exit_code))
        released = False
        try:
            released = release_lock(self._client, consumer.entry)
        except RedisError as error:
            self.log.warning("lock-release-failed", queue=consumer.entry.queue, error=str(error))
        self.log.info(
            "stopped-node-process",
            queue=consumer.entry.queue,
            consumer_pid=consumer.pid,
            exit_code=exit_code,
            released_stale_entry=released,
        )

    def _drain(self) -> None:
        """Ask every consumer to stop, wait up to the deadline, then kill what is left."""
        deadline = time.monotonic() + self.settings.shutdown_deadline_s
        self.log.info("stop-node-process", consumer_pids=sorted(self.consumers))
        for pid in self.consumers:
            _signal(pid, signal.SIGTERM)
        while self.consumers and not self.forced and time.monotonic() < deadline:
            self._last_turn = time.monotonic()
            assert self._inbox is not None
            self._inbox.wait(min(_REAP_POLL_S, deadline - time.monotonic()))
            self._observe(self._inbox.take())
            self._reap()
        for pid in self.consumers:
            self.log.warning("kill-node-process", consumer_pid=pid)
            _signal(pid, signal.SIGKILL)
        for pid in list(self.consumers):
            _, status = os.waitpid(pid, 0)
            self._forget(self.consumers.pop(pid), os.waitstatus_to_exitcode(status))


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # exited meanwhile; _reap collects it
