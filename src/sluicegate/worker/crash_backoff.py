"""The agent's side of crash loops: fork for no lane that is backing off, and wait after
consumers that die early for no queue's reason.

Most crashes happen in a visit of a queue: the consumer records them per queue
(``queue/crash_record.py``) and the agent leaves backing-off queues out of the consumers it wants,
as it leaves out the lanes of a destination whose database refuses connections (its backoff on the
board, ``worker/board.py``): the other destinations' lanes are served meanwhile. A consumer that
dies *outside* a visit (its database cannot be opened, a bug between visits) points at no queue, so
the agent as a whole waits before it forks again: the same ``CRASH_BACKOFF_INITIAL`` doubling to
``CRASH_BACKOFF_MAX``, reset by a consumer that ran for ``QUEUE_AGENT_WORKER_TTL``. Deaths by a
signal (``SIGKILL`` from an operator or the drill) are not counted: they say nothing about the next
fork.
"""

import signal
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import redis

from sluicegate.backoff import Backoff
from sluicegate.logs import Logger
from sluicegate.queue.crash_record import backing_off
from sluicegate.queue.lanes import Lane
from sluicegate.settings import Settings
from sluicegate.worker.fork import EXIT_VISIT_CRASHED


def counts_as_crash(exit_code: int) -> bool:
    """A failure of the process itself; a crash in a visit is recorded for its queue instead."""
    return exit_code > 0 and exit_code != EXIT_VISIT_CRASHED


@dataclass
class CrashBackoff:
    """The policy, without logs: may the agent fork now?"""

    initial_s: float
    maximum_s: float
    healthy_after_s: float
    clock: Callable[[], float] = time.monotonic
    retry_at: float = 0.0
    backoff: Backoff = field(init=False)

    def __post_init__(self) -> None:
        self.backoff = Backoff(self.initial_s, self.maximum_s)

    def may_fork(self) -> bool:
        return self.clock() >= self.retry_at

    def exited(self, ran_s: float, exit_code: int) -> float | None:
        """The wait before the next fork after this exit; None when it was no crash."""
        if ran_s >= self.healthy_after_s:
            self.backoff.reset()
        if not counts_as_crash(exit_code):
            return None
        delay_s = self.backoff.next_delay_s()
        self.retry_at = self.clock() + delay_s
        return delay_s


class CrashLoops:
    """What the agent asks: may I fork, which queues want consumers; and what it reports."""

    def __init__(self, settings: Settings, log: Logger) -> None:
        self.policy = CrashBackoff(
            settings.crash_backoff_initial_s,
            settings.crash_backoff_max_s,
            healthy_after_s=settings.queue_agent_worker_ttl_s,
        )
        self._log = log
        self._forked_at: dict[int, float] = {}

    def may_fork(self) -> bool:
        return self.policy.may_fork()

    def forked(self, pid: int) -> None:
        self._forked_at[pid] = self.policy.clock()

    def exited(self, pid: int, exit_code: int) -> None:
        now = self.policy.clock()
        delay_s = self.policy.exited(now - self._forked_at.pop(pid, now), exit_code)
        if delay_s is not None:  # one line per attempt; the consumer logged its traceback
            self._log.warning(
                "consumer-crash-looping",
                consumer_pid=pid,
                exit_code=exit_code,
                error=describe_exit(exit_code),
                attempt=self.policy.backoff.attempt,
                retry_in_s=round(delay_s, 1),
            )

    @staticmethod
    def queues_to_serve(
        client: "redis.Redis", work: Mapping[Lane, int], refusing: Collection[str] = ()
    ) -> dict[Lane, int]:
        """``work`` without the lanes that are backing off after their consumers crashed, nor
        those of the destinations in ``refusing`` (their database backoff runs)."""
        serve = {lane: length for lane, length in work.items() if lane.destination not in refusing}
        waiting = backing_off(client, list(serve))
        return {lane: length for lane, length in serve.items() if lane not in waiting}


def describe_exit(exit_code: int) -> str:
    """What an exit code says (the consumer's own log line has the traceback)."""
    if exit_code < 0:
        return f"killed by {signal.Signals(-exit_code).name}"
    return f"exit code {exit_code}"
