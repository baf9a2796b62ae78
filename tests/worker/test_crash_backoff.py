"""A consumer that always dies costs a few forks a minute, not a fork storm."""

import io
import random

import pytest
from rich.console import Console

from sluicegate.backoff import Backoff
from sluicegate.cli.status import gather, status_table
from sluicegate.queue.crash_record import crash_records
from sluicegate.repository.sqlite import SqliteRepository
from sluicegate.worker.crash_backoff import CrashBackoff, counts_as_crash, describe_exit
from sluicegate.worker.fork import EXIT_VISIT_CRASHED
from tests.broken_consumer import DIES_AT_START
from tests.loading import enqueue, make_events
from tests.processes import CommandProcess
from tests.waiting import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def forks_in_a_minute(seed: int, poll_s: float, dies_after_s: float = 0.05) -> int:
    """The agent's loop, simulated with the delays a queue's crash record draws."""
    random.seed(seed)
    backoff, now, retry_at, forks = Backoff(1.0, 60.0), 0.0, 0.0, 0
    while now < 60.0:
        if now >= retry_at:
            forks += 1
            now += dies_after_s
            retry_at = now + backoff.next_delay_s()
        else:
            now += poll_s
    return forks


@pytest.mark.parametrize("poll_s", [0.01, 1.0])
def test_at_most_8_forks_in_the_first_minute_whatever_the_jitter(poll_s):
    counts = {forks_in_a_minute(seed, poll_s) for seed in range(200)}
    assert max(counts) <= 8
    assert min(counts) >= 6  # it keeps trying: 1 s doubling to 60 s


def test_the_agent_waits_after_crashes_no_queue_explains_and_resets_when_healthy():
    clock = Clock()
    policy = CrashBackoff(1.0, 8.0, healthy_after_s=15.0, clock=clock)
    delays = []
    for _ in range(5):
        delay = policy.exited(ran_s=0.1, exit_code=1)
        assert delay is not None
        assert not policy.may_fork()
        delays.append(delay)
        clock.now += delay
        assert policy.may_fork()
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert policy.exited(ran_s=15.0, exit_code=4) <= 1.0  # ran healthily, then died: start over


def test_what_counts_as_a_crash_of_the_process():
    assert counts_as_crash(1)
    assert counts_as_crash(4)  # its database could not be opened
    assert not counts_as_crash(0)
    assert not counts_as_crash(EXIT_VISIT_CRASHED)  # recorded per queue instead
    assert not counts_as_crash(-9)  # a signal from outside
    assert describe_exit(-9) == "killed by SIGKILL"


@pytest.mark.slow
def test_a_consumer_that_always_dies_is_forked_at_most_8_times_a_window(
    settings, subprocess_env, redis_client, tmp_path
):
    """The bar (8 forks in 60 s at 1 s doubling to 60 s), scaled down 20 times: a 3 s window."""
    enqueue(settings.redis_url, make_events("q", 3))
    env = {
        **subprocess_env,
        "CONSUMER_CLASS": DIES_AT_START,
        "CRASH_BACKOFF_INITIAL": "0.05",
        "CRASH_BACKOFF_MAX": "3",
    }
    agent = CommandProcess("agent", env, tmp_path / "agent.log")
    repository = SqliteRepository(settings.sqlite_filepath)
    try:
        wait_for(lambda: len(fork_times(agent)) >= 2, timeout_s=30, message="a second fork")
        first = fork_times(agent)[0]
        wait_for(
            lambda: fork_times(agent)[-1] > first + 3000, timeout_s=30, message="the window to end"
        )
        in_window = [at for at in fork_times(agent) if at <= first + 3000]
        assert 3 <= len(in_window) <= 8
        crashes = [line for line in agent.logs() if line["command"] == "consumer-crash-looping"]
        assert crashes[0]["payload"]["error"] == (
            "FileExistsError: [Errno 17] File exists: '/srv/afile'"
        )
        assert [line["payload"]["attempt"] for line in crashes[:3]] == [1, 2, 3]
        assert sum("exception" in line["payload"] for line in crashes) == 1  # once a minute
        wait_for(
            lambda: "crash-looping: retry in" in rendered(gather(redis_client, repository)),
            message="status to show the crash loop",
        )
        assert "FileExistsError: [Errno 17]" in rendered(gather(redis_client, repository))
        assert crash_records(redis_client, ["q"])["q"].attempt >= 3
    finally:
        repository.close()
        agent.close()


def fork_times(agent: CommandProcess) -> list[int]:
    return [line["time"] for line in agent.logs() if line["command"] == "fork-node-process"]


def rendered(statuses) -> str:
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(status_table(statuses))
    return console.export_text()
