"""``sluicegate drill`` end to end, as a subprocess: every fault kind passes on a healthy system,
a deliberately broken consumer fails it, and no process outlives a run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sluicegate.drill.procs import is_alive
from sluicegate.drill.schedule import FAULT_KINDS
from tests import broken_consumer

pytestmark = pytest.mark.slow

EVENTS = 3000
CONSUMER_BATCH = 500


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line or environment names ``text`` (the run's folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob and is_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def drill(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    workdir, report = tmp_path / "system", tmp_path / "drill.json"
    command = [
        sys.executable,
        "-m",
        "sluicegate.drill",
        "--events",
        str(EVENTS),
        "--rate",
        "1500",
        "--consumer-batch",
        str(CONSUMER_BATCH),
        "--no-progress",
        "--workdir",
        str(workdir),
        "--report",
        str(report),
        *args,
    ]
    result = subprocess.run(
        command,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert processes_mentioning(str(workdir)) == [], "a process outlived the drill"
    assert report.exists(), result.stdout + result.stderr
    return result, json.loads(report.read_text())


def test_a_mixed_drill_covers_every_kind_and_passes_in_each_destination(tmp_path):
    """Every fault kind once, on a healthy system delivering to SQLite and to a Delta table,
    destination-down included; each destination checked on its own, the Delta table by the
    drill's own reader, and the kills aimed between a Delta commit and its ack. (Each kind used
    to get a drill of its own too: six more runs, about 60 s of the suite's CPU, for nothing
    this one does not check.)"""
    kinds = {*FAULT_KINDS, "destination-down"}
    # Seed 28 draws kill and kill-consumer first (at 12 % and 18 % of the load): the Delta
    # writer has batches to commit then.
    result, report = drill(
        tmp_path, "--fault", "mixed", "--stops", str(len(kinds)), "--seed", "28", "--outage", "1",
        "--destinations", "sql,delta",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["verdict"] == "PASS"
    assert {stop["fault"] for stop in report["stops"]} == kinds
    assert all(stop["ok"] for stop in report["stops"])
    kills = [stop for stop in report["stops"] if stop["fault"] in ("kill", "kill-consumer")]
    assert any("between its delta commit and its ack" in (s["remark"] or "") for s in kills)
    final = report["final"]
    assert final["accepted"] == EVENTS
    assert final["problems"] == []
    for line in final["destinations"]:
        assert (line["persisted"], line["lost"], line["duplicated"]) == (EVENTS, 0, 0), line
    assert [line["destination"] for line in final["destinations"]] == ["sql", "delta"]
    assert "0 lost, 0 duplicated in each destination" in result.stdout


# Seed 147's second stop SIGTERMs the agent inside a network black hole and starts it again
# before the black hole ends (both were drill bugs or agent bugs once: see the CHANGELOG).
@pytest.mark.parametrize("seed", [147])
def test_random_overlapping_faults_pass_and_print_their_plan(tmp_path, seed):
    result, report = drill(
        tmp_path, "--fault", "random", "--stops", "2", "--seed", str(seed), "--outage", "1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["seed"] == seed
    assert len(report["plan"]) == 2
    assert f"seed {seed}; the plan it drew:" in result.stdout
    assert [stop["fault"] for stop in report["stops"]] == ["random", "random"]
    assert report["final"]["persisted"] == EVENTS


def test_many_queues_several_agents_and_consumers_pass_agent_kills(tmp_path):
    """20 queues served in turn by two agents with two consumers a queue (one drill for both
    shapes: each costs a system start); each stop kills one agent, in turn, and the batch it
    held, whichever queue it came from, is reclaimed; the report has each queue's line and lag."""
    args = ("--queues", "20", "--consumers", "2", "--agents", "2", "--fault", "kill")
    result, report = drill(tmp_path, *args, "--stops", "2", "--seed", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["verdict"] == "PASS"
    assert report["shape"]["agents"] == 2
    assert report["shape"]["consumers_per_queue"] == 2
    assert [stop["remark"].split()[0] for stop in report["stops"]] == ["agent2", "agent"]
    final = report["final"]
    assert final["persisted"] == EVENTS
    assert final["shutdown"]["exit_code"] == 0
    queues = final["queues"]
    assert len(queues) == 20
    assert all(q["persisted"] == q["accepted"] > 0 for q in queues)
    assert sum(q["accepted"] for q in queues) == EVENTS
    assert final["lag_ms"]["queues"] == 20
    assert final["lag_ms"]["slowest"] in {q["queue"] for q in queues}
    assert "each queue's worst, over 20 queues: p50" in result.stdout
    assert "2 agents, 2 consumers per queue" in result.stdout


def _broken_consumer_env(marker):
    """The agent imports the broken consumer from this repository's tests package."""
    root = str(Path(__file__).resolve().parents[2])
    pythonpath = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return {
        "CONSUMER_CLASS": broken_consumer.CLASS_PATH,
        broken_consumer.MARKER_VARIABLE: str(marker),
        "PYTHONPATH": pythonpath,
    }


def test_a_consumer_that_acks_before_persisting_is_caught(tmp_path):
    marker = tmp_path / "bug-struck"
    result, report = drill(
        tmp_path, "--fault", "term", "--stops", "1", env=_broken_consumer_env(marker)
    )
    assert marker.exists(), "the broken consumer never ran"
    assert result.returncode == 1, result.stdout + result.stderr
    assert report["verdict"] == "FAIL"
    lost = report["final"]["ids"]["lost"]["count"]
    assert 0 < lost <= CONSUMER_BATCH  # exactly the one batch acknowledged and dropped
    assert report["final"]["persisted"] == EVENTS - lost
    assert f"verdict: FAIL — 3,000 accepted, {EVENTS - lost:,} persisted, {lost:,} lost" in (
        result.stdout
    )
