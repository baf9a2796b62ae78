"""Usage errors exit 2 before anything starts."""

import re

import pytest
import typer
from typer.testing import CliRunner

from sluicegate.drill.command import drill

app = typer.Typer()
app.command()(drill)

DEPLOYMENT = ["--api-url", "http://x", "--redis-url", "redis://x", "--database-url", "sqlite:///x"]


def flat(text: str) -> str:
    """The output without rich's box drawing and line wrapping."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--events", "0"], "--events"),
        (["--batch", "1001"], "--batch"),
        (["--concurrency", "0"], "--concurrency"),
        (["--stops", "-1"], "--stops"),
        (["--fault", "nuke"], "--fault"),
        (["--stop-cmd", "true"], "need --api-url"),
        (["--api-url", "http://x"], "--redis-url and --database-url"),
        ([*DEPLOYMENT, "--fault", "redis-restart"], "needs the system the drill starts"),
        ([*DEPLOYMENT, "--fault", "term"], "needs --stop-cmd"),
        ([*DEPLOYMENT, "--fault", "random"], "needs the system the drill starts"),
        (["--cluster", "--fault", "random"], "needs one Redis server"),
        (["--cluster", "--fault", "net-reset"], "needs one Redis server"),
        (["--sentinel", "--fault", "random"], "needs one Redis server, not --sentinel"),
        (["--sentinel", "--fault", "redis-restart"], "use --fault sentinel-failover"),
        (["--sentinel", "--cluster"], "not both"),
        (["--fault", "sentinel-failover"], "needs --sentinel"),
        (["--fault", "seed-kill"], "needs --cluster"),
        (["--sentinel", "--fault", "seed-kill"], "needs --cluster"),
        (["--durability-replicas", "1"], "needs --cluster or --sentinel"),
        ([*DEPLOYMENT, "--sentinel", "--fault", "db-outage"], "cannot go with --api-url"),
        (["--agents", "0"], "--agents"),
        (["--consumers", "0"], "--consumers"),
        ([*DEPLOYMENT, "--fault", "db-outage", "--agents", "2"], "a deployment (--api-url)"),
        ([*DEPLOYMENT, "--fault", "db-outage", "--consumers", "1"], "a deployment (--api-url)"),
        (["--agents", "2", "--fault", "random"], "plays its scenarios on one agent"),
        (["--duration", "ten"], "is not a duration"),
        (["--destinations", "sql,kafka"], "give one or more of sql, delta"),
        (["--destinations", "sql,sql"], "each once"),
        (["--fault", "destination-down"], "needs two destinations"),
        ([*DEPLOYMENT, "--fault", "db-outage", "--destinations", "delta"], "a deployment"),
        (["--duration", "0s"], "between 1 s and 7 days"),
        (["--queues", "0"], "--queues"),
        (["--queues", "10001"], "--queues"),
        (["--queues", "500", "--events", "499"], "--queues 500 needs at least as many events"),
        (["--fault", "db-failover"], "needs --db-standby"),
        (["--database-replicas", "0"], "needs --db-standby"),
        (["--db-standby", "--cluster"], "starts its own PostgreSQL primary and standby"),
        (["--db-standby", "--database-url", "postgresql://x/y"], "starts its own PostgreSQL"),
        (["--db-standby", "--database-replicas", "2"], "--database-replicas"),
    ],
)
def test_bad_usage_exits_2(args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in flat(result.output)


def test_kill_child_is_a_deprecated_name_of_kill_consumer(monkeypatch):
    """Old command lines keep working: the fault is renamed, with a warning, before it runs."""
    seen = {}

    def fake_run(options, console):
        seen["fault"] = options.fault
        raise SystemExit(0)

    monkeypatch.setattr("sluicegate.drill.runner.run_drill", fake_run)
    result = CliRunner().invoke(app, ["--fault", "kill-child", "--stops", "1"])
    assert seen == {"fault": "kill-consumer"}
    assert "--fault kill-child is deprecated: use kill-consumer" in result.output


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("10m", 600), ("1.5h", 5400)]
)
def test_a_soak_takes_its_duration_in_seconds_minutes_or_hours(monkeypatch, text, seconds):
    seen = {}

    def fake_run(options, console):
        seen.update(duration_s=options.duration_s, events=options.events)
        raise SystemExit(0)

    monkeypatch.setattr("sluicegate.drill.runner.run_drill", fake_run)
    CliRunner().invoke(app, ["--duration", text, "--rate", "10"])
    assert seen == {"duration_s": seconds, "events": 10 * seconds}


def test_consumers_and_agents_shape_the_system_the_drill_starts(monkeypatch):
    seen = {}

    def fake_run(options, console):
        seen.update(agents=options.tuning.agents, consumers=options.tuning.consumers)
        raise SystemExit(0)

    monkeypatch.setattr("sluicegate.drill.runner.run_drill", fake_run)
    CliRunner().invoke(app, ["--consumers", "3", "--agents", "2", "--cluster"])
    assert seen == {"agents": 2, "consumers": 3}
    CliRunner().invoke(app, [])
    assert seen == {"agents": 1, "consumers": 1}  # the default drill: one agent, one consumer
