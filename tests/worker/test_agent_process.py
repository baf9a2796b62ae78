"""The agent as a real process: forks, signals, SIGKILL, and what is left in Redis afterwards."""

import signal
import time

import pytest
import redis

from sluicegate.drill.proxy import Proxy
from sluicegate.queue.lock import lock_holder
from sluicegate.queue.stats import snapshot
from sluicegate.repository.sqlite import SqliteRepository
from tests.loading import enqueue, ids_in_stream, make_events
from tests.processes import is_alive
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def persisted(settings) -> SqliteRepository:
    return SqliteRepository(settings.sqlite_filepath)


def test_sigterm_mid_batch_drains_cleanly(settings, redis_client, start_agent):
    ids = set(enqueue(settings.redis_url, make_events("q", 30_000)))
    agent = start_agent(QUEUE_BATCH_SIZE="200")
    repository = persisted(settings)
    wait_for(lambda: repository.count() > 0, message="the first batch to be persisted")
    started = time.monotonic()
    agent.signal(signal.SIGTERM)
    assert agent.wait(timeout_s=settings.shutdown_deadline_s + 5) == 0
    assert time.monotonic() - started < settings.shutdown_deadline_s
    state = snapshot(redis_client, "q")
    assert state.in_flight == 0
    assert lock_holder(redis_client, "q") is None
    stored = repository.ids()
    queued = set(ids_in_stream(redis_client, "q"))
    assert stored.isdisjoint(queued)
    assert stored | queued == ids
    assert 0 < len(stored) < len(ids), "the stop was supposed to land mid-load"
    assert agent.logged("stopped-node-process")[0]["exit_code"] == 0


def test_sigkill_of_agent_and_consumers_then_restart_loses_nothing(
    settings, redis_client, start_agent
):
    ids = set(enqueue(settings.redis_url, make_events("q", 30_000)))
    repository = persisted(settings)
    repository._db.execute("BEGIN EXCLUSIVE")  # pin the consumer's first batch: claimed, held
    first = start_agent(QUEUE_BATCH_SIZE="200")
    wait_for(lambda: snapshot(redis_client, "q").in_flight > 0, message="a batch in flight")
    first.kill_all()
    repository._db.execute("ROLLBACK")
    assert snapshot(redis_client, "q").in_flight > 0
    second = start_agent()
    wait_for(
        lambda: repository.count() == len(ids),
        timeout_s=30,
        message="every event to be persisted after the restart",
    )
    assert repository.ids() == ids
    wait_for(lambda: snapshot(redis_client, "q").depth == 0, message="the stream to empty")
    second.signal(signal.SIGTERM)
    assert second.wait(timeout_s=10) == 0


def test_no_fork_after_a_stop_signal_even_mid_decision(
    settings, redis_client, start_agent, tmp_path
):
    gate = tmp_path / "gate"
    gate.mkdir()
    enqueue(settings.redis_url, make_events("q", 10))
    agent = start_agent(module="tests.fork_gate_agent", FORK_GATE=str(gate))
    wait_for((gate / "at-fork").exists, message="the agent to decide to fork")
    agent.signal(signal.SIGTERM)  # arrives after the decision, before the fork
    (gate / "go").touch()
    assert agent.wait(timeout_s=10) == 0
    assert agent.logged("fork-skipped-draining") == [{"component": "agent", "pid": agent.pid}]
    assert agent.consumer_pids() == set()
    assert snapshot(redis_client, "q").queued == 10


def test_a_second_signal_stops_now(settings, redis_client, start_agent):
    repository = persisted(settings)
    repository._db.execute("BEGIN EXCLUSIVE")  # the database is away: the batch cannot finish
    enqueue(settings.redis_url, make_events("q", 100))
    agent = start_agent(SHUTDOWN_DEADLINE="60")
    wait_for(lambda: snapshot(redis_client, "q").in_flight > 0, message="a batch in flight")
    agent.signal(signal.SIGTERM)
    wait_for(lambda: agent.logged("stop-node-process"), message="the drain to start")
    agent.signal(signal.SIGINT)
    assert agent.wait(timeout_s=10) == 1
    assert agent.logged("kill-node-process")
    repository._db.execute("ROLLBACK")
    assert lock_holder(redis_client, "q") is None  # the agent released the killed consumer's lock
    state = snapshot(redis_client, "q")
    assert state.in_flight + state.queued == 100  # nothing lost: still pending


def test_consumers_stop_on_their_own_when_the_agent_dies(settings, redis_client, start_agent):
    enqueue(settings.redis_url, make_events("q", 10))
    agent = start_agent()
    [consumer] = wait_for(agent.consumer_pids, message="a consumer to be forked")
    enqueue(settings.redis_url, make_events("q", 1))
    agent.signal(signal.SIGKILL)
    agent.wait(timeout_s=5)
    wait_for(lambda: not is_alive(consumer), message="the orphaned consumer to exit")
    assert lock_holder(redis_client, "q") is None


def test_database_outage_keeps_the_batch_pending_and_resumes(settings, redis_client, start_agent):
    repository = persisted(settings)
    repository._db.execute("BEGIN EXCLUSIVE")
    ids = set(enqueue(settings.redis_url, make_events("q", 500)))
    agent = start_agent()
    wait_for(lambda: snapshot(redis_client, "q").in_flight > 0, message="a batch in flight")
    wait_for(lambda: agent.logged("transient-error"), message="the consumer to notice")
    repository._db.execute("ROLLBACK")
    wait_for(lambda: repository.count() == 500, timeout_s=20, message="the backlog to land")
    assert repository.ids() == ids
    assert snapshot(redis_client, "q").dead_lettered == 0
    agent.signal(signal.SIGTERM)
    assert agent.wait(timeout_s=10) == 0


@pytest.mark.parametrize("hard", [False, True], ids=["shutdown", "sigkill"])
def test_redis_restart_mid_load_loses_nothing(settings, redis_server, start_agent, hard):
    ids = set(enqueue(settings.redis_url, make_events("q", 20_000)))
    agent = start_agent(QUEUE_BATCH_SIZE="200")
    repository = persisted(settings)
    wait_for(lambda: repository.count() > 0, message="the first batch to be persisted")
    redis_server.restart(hard=hard)  # from its AOF, on the same port
    wait_for(
        lambda: repository.count() == len(ids),
        timeout_s=30,
        message="every event to be persisted after the restart",
    )
    assert repository.ids() == ids
    client = redis.Redis.from_url(redis_server.url)
    wait_for(lambda: snapshot(client, "q").depth == 0, message="the stream to empty")
    assert snapshot(client, "q").dead_lettered == 0
    client.close()
    agent.signal(signal.SIGTERM)
    assert agent.wait(timeout_s=10) == 0


def test_after_sigkill_a_restart_recovers_at_once_not_after_the_ttl(settings, start_agent):
    """The dead holder ran here: its lock and pending entries are taken over without waiting."""
    long_ttl = {"QUEUE_AGENT_WORKER_TTL": "60", "QUEUE_BATCH_SIZE": "200"}
    ids = set(enqueue(settings.redis_url, make_events("q", 10_000)))
    repository = persisted(settings)
    # The consumer's first batch is pinned: claimed, never committed. (Locking after a first
    # commit raced a consumer that stored all 10,000 before the lock was taken.)
    repository._db.execute("BEGIN EXCLUSIVE")
    first = start_agent(**long_ttl)
    client = redis.Redis.from_url(settings.redis_url)
    wait_for(lambda: snapshot(client, "q").in_flight > 0, message="a batch in flight")
    first.kill_all()
    repository._db.execute("ROLLBACK")
    started = time.monotonic()
    second = start_agent(**long_ttl)
    wait_for(lambda: repository.count() == len(ids), timeout_s=20, message="every event stored")
    assert time.monotonic() - started < 20  # a third of the TTL
    assert repository.ids() == ids
    assert second.logged("stale-lock-released")
    client.close()
    second.signal(signal.SIGTERM)
    assert second.wait(timeout_s=10) == 0


def test_an_agent_started_while_redis_is_away_waits_for_it(settings, redis_server, start_agent):
    """Found by ``drill --fault random``: an agent restarted during a network black hole died
    at start (its REDIS_CLUSTER=auto probe timed out) instead of waiting for Redis."""
    ids = set(enqueue(settings.redis_url, make_events("q", 300)))
    redis_server.kill()
    agent = start_agent()
    wait_for(lambda: agent.first("redis-unavailable"), message="the agent to say Redis is away")
    assert agent.process.poll() is None, "the agent died while Redis was away"
    redis_server.start()  # from its AOF, on the same port
    repository = persisted(settings)
    wait_for(lambda: repository.count() == len(ids), timeout_s=30, message="every event stored")
    agent.signal(signal.SIGTERM)
    assert agent.wait(timeout_s=10) == 0


def test_a_sigterm_in_a_network_partition_stops_the_agent_within_the_deadline(
    settings, redis_server, start_agent
):
    """Found by ``drill --fault random`` (seed 147): with every packet to Redis swallowed, the
    loop sat in one call for three 10 s socket timeouts and met the SIGTERM past any deadline."""
    proxy = Proxy("127.0.0.1", redis_server.port).start()
    try:
        agent = start_agent(REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0")
        wait_for(lambda: agent.first("agent-started"), message="the agent to start")
        proxy.blackhole(True)
        wait_for(
            lambda: agent.first("redis-unavailable"),
            message="a call of the loop to time out in the partition",
        )
        signalled = time.monotonic()
        agent.signal(signal.SIGTERM)  # the loop is (again) waiting on a reply that never comes
        assert agent.wait(timeout_s=30) == 0
        assert time.monotonic() - signalled < settings.shutdown_deadline_s
    finally:
        proxy.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_while_waiting_for_redis_ends_the_agent_at_once(
    signum, redis_server, start_agent
):
    """Issue 16: an agent that waits for Redis at start (every seed down) stops at once on
    SIGTERM or SIGINT, exit 0, having started nothing (it died of the signal: status -15)."""
    redis_server.kill()
    agent = start_agent(QUEUE_POLL_FREQ="5")  # the wait between two tries: the signal cuts it
    wait_for(lambda: agent.first("redis-unavailable"), message="the agent to wait for Redis")
    signalled = time.monotonic()
    agent.signal(signum)
    assert agent.wait(timeout_s=5) == 0
    assert time.monotonic() - signalled < 2
    assert agent.first("agent-started") is None
    assert agent.first("agent-stopped") == {
        "component": "agent",
        "pid": agent.pid,
        "forced": False,
        "started": False,
    }
    assert agent.consumer_pids() == set()


def test_a_stop_keeps_its_deadline_when_a_round_trip_takes_a_second(
    settings, redis_server, redis_client, start_agent
):
    """Issue 16 (``drill --fault random --stops 6 --seed 7``, +422 ms each way: a stop of 8.5 s
    against 5 s): the deadline counts from the signal's arrival, and the locks of the consumers
    killed at the deadline are released in one round trip within it, or left to expire."""
    repository = persisted(settings)
    repository._db.execute("BEGIN EXCLUSIVE")  # no batch can finish: every consumer is killed
    queues = ["q1", "q2", "q3"]
    for queue in queues:
        enqueue(settings.redis_url, make_events(queue, 50))
    proxy = Proxy("127.0.0.1", redis_server.port).start()
    try:
        agent = start_agent(REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0", SHUTDOWN_DEADLINE="5")
        wait_for(
            lambda: all(snapshot(redis_client, queue).in_flight for queue in queues),
            message="a batch in flight in every queue",
        )
        proxy.set_latency(0.5)
        signalled = time.monotonic()
        agent.signal(signal.SIGTERM)
        assert agent.wait(timeout_s=20) == 0
        took_s = time.monotonic() - signalled
        assert took_s < 5, f"the stop took {took_s:.2f} s"
        assert len(agent.logged("kill-node-process")) == 3
    finally:
        proxy.stop()
        repository._db.execute("ROLLBACK")
