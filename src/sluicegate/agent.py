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

from redis.exceptions import RedisError

from sluicegate import keys, registry
from sluicegate.child import run_child
from sluicegate.liveness import is_gone, process_name
from sluicegate.logs import get_logger
from sluicegate.queue_stats import list_queues
from sluicegate.redis_client import sync_client
from sluicegate.settings import Settings
from sluicegate.signals import TERMINATING, SignalInbox, deferred
from sluicegate.testing_hooks import pause_before_fork

_REAP_POLL_S = 0.05


class AgentState(Enum):
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Child:
    pid: int
    entry: registry.WorkerEntry  # as the child registers it: the agent's token, the child's pid


class Agent:
    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.state = AgentState.RUNNING
        self.children: dict[int, Child] = {}
        self.forced = False
        self.log = get_logger(component="agent", pid=os.getpid())
        self._client = sync_client(redis_url)  # connects on first use, in the agent only
        self._inbox: SignalInbox | None = None

    def run(self) -> int:
        """Serve until a signal, then drain; the exit code is 0 after a graceful stop."""
        self._inbox = SignalInbox([signal.SIGTERM, signal.SIGINT, signal.SIGCHLD])
        self.log.info("agent-started", poll_s=self.settings.queue_poll_freq_s)
        try:
            while self._still_running():
                self._reap()
                self._spawn_where_needed()
                self._inbox.wait(self.settings.queue_poll_freq_s)
            self._drain()
        finally:
            self.state = AgentState.STOPPED
            self._client.close()
            self._inbox.close()
        self.log.info("agent-stopped", forced=self.forced)
        return 1 if self.forced else 0

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

    def _spawn_where_needed(self) -> None:
        try:
            queues = self._queues_needing_a_worker()
        except RedisError as error:
            self.log.warning("redis-unavailable", error=str(error))
            return
        for queue in queues:
            if not self._fork(queue):
                return

    def _queues_needing_a_worker(self) -> list[str]:
        """Queues with events (queued or pending) and no consumer, ours or anyone's."""
        busy = {child.entry.queue for child in self.children.values()}
        queues = [queue for queue in list_queues(self._client) if queue not in busy]
        with self._client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.xlen(keys.stream_key(queue))
                pipe.exists(keys.worker_key(queue))
            replies = pipe.execute()
        return [
            queue
            for queue, length, locked in zip(queues, replies[::2], replies[1::2], strict=True)
            if length and (not locked or self._released_stale_lock(queue))
        ]

    def _released_stale_lock(self, queue: str) -> bool:
        """Free a lock whose holder certainly died (SIGKILL, OOM) now, not when its TTL runs out."""
        client = self._client
        holder = registry.holder(client, queue)
        if holder is None:
            return True
        if not (holder.process and is_gone(holder.process)):
            return False
        released = registry.release_entry(client, holder)
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
            entry = registry.new_entry(queue)
            agent_pid = os.getpid()
            pid = os.fork()
            if pid == 0:
                run_child(self.settings, self.redis_url, entry, parent_pid=agent_pid)
        self.children[pid] = Child(pid, replace(entry, pid=pid, process=process_name(pid)))
        self.log.info("fork-node-process", queue=queue, child_pid=pid)
        return True

    def _reap(self) -> None:
        """Collect every exited child (no zombies) and clear its registry entry if it could not."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                self._forget(child, os.waitstatus_to_exitcode(status))

    def _forget(self, child: Child, exit_code: int) -> None:
        released = False
        try:
            released = registry.release_entry(self._client, child.entry)
        except RedisError as error:
            self.log.warning("registry-release-failed", queue=child.entry.queue, error=str(error))
        self.log.info(
            "stopped-node-process",
            queue=child.entry.queue,
            child_pid=child.pid,
            exit_code=exit_code,
            released_stale_entry=released,
        )

    def _drain(self) -> None:
        """Ask every child to stop, wait up to the deadline, then kill what is left."""
        deadline = time.monotonic() + self.settings.shutdown_deadline_s
        self.log.info("stop-node-process", children=sorted(self.children))
        for pid in self.children:
            _signal(pid, signal.SIGTERM)
        while self.children and not self.forced and time.monotonic() < deadline:
            assert self._inbox is not None
            self._inbox.wait(min(_REAP_POLL_S, deadline - time.monotonic()))
            self._observe(self._inbox.take())
            self._reap()
        for pid in self.children:
            self.log.warning("kill-node-process", child_pid=pid)
            _signal(pid, signal.SIGKILL)
        for pid in list(self.children):
            _, status = os.waitpid(pid, 0)
            self._forget(self.children.pop(pid), os.waitstatus_to_exitcode(status))


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # exited meanwhile; _reap collects it
