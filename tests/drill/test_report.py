"""Rendering: the table a person reads, the verdict line, and the JSON report."""

import io
import json
from dataclasses import replace

from rich.console import Console

from sluicegate.drill.checker import (
    DestinationTally,
    FinalFacts,
    IdVerdict,
    StopFacts,
    final_problems,
)
from sluicegate.drill.report import (
    DrillReport,
    StopRecord,
    counters_line,
    memory_line,
    render,
    to_json,
    verdict_line,
)

CLEAN = IdVerdict(frozenset(), frozenset(), frozenset(), frozenset())


def record(number=1, kind="term", label="SIGTERM agent", problems=(), **facts) -> StopRecord:
    return StopRecord(
        number=number,
        kind=kind,
        label=label,
        queued_before=43_572,
        queued_after=42_672,
        in_flight_after=0,
        lock_after="clean",
        persisted=900,
        persisted_delta=900,
        recover_s=0.5,
        facts=StopFacts(kind, facts.pop("ids", CLEAN), **facts),
        problems=tuple(problems),
    )


def final(**changes) -> FinalFacts:
    base = dict(
        ids=CLEAN,
        accepted=50_000,
        sent=50_000,
        persisted=50_000,
        dead=0,
        queued=0,
        in_flight=0,
        unknown_absent=0,
    )
    return FinalFacts(**{**base, **changes})


def rendered(report: DrillReport) -> str:
    out = io.StringIO()
    render(report, Console(file=out, width=200, color_system=None))
    return out.getvalue()


def test_a_clean_run_passes_with_the_guide_s_verdict_line():
    report = DrillReport(
        mode="local",
        options={},
        stops=[record(exit_code=0, stop_s=0.4)],
        final=final(),
        redeliveries=1_212,
    )
    assert report.passed
    assert report.exit_code == 0
    assert verdict_line(report) == (
        "verdict: PASS — 50,000 accepted, 50,000 persisted, 0 lost, "
        "0 duplicated, 1,212 redeliveries absorbed"
    )


def test_the_table_has_one_row_per_stop_with_the_guide_s_columns():
    report = DrillReport(
        mode="local",
        options={},
        final=final(),
        stops=[
            record(exit_code=0, stop_s=0.4),
            record(number=2, kind="kill", label="SIGKILL agent+children", orphaned=0),
        ],
    )
    text = rendered(report)
    for column in (
        "stop",
        "fault",
        "queued before",
        "queued after",
        "persisted",
        "Δ persisted",
        "in flight",
        "lock",
        "lost",
        "dup",
        "stop s",
    ):
        assert column in text
    assert "SIGTERM agent" in text
    assert "43,572" in text
    assert "+900" in text
    assert "0 → 0 (reclaim)" in text
    assert "clean" in text
    assert "0.4" in text


def test_a_loss_fails_the_run_and_is_shown():
    lost = IdVerdict(frozenset({"a", "b"}), frozenset(), frozenset(), frozenset())
    report = DrillReport(
        mode="local",
        options={},
        final=final(ids=lost, persisted=49_998),
        final_problems=["2 lost: a, b"],
    )
    assert not report.passed
    assert report.exit_code == 1
    text = rendered(report)
    assert "verdict: FAIL — 50,000 accepted, 49,998 persisted, 2 lost" in text
    assert "end: 2 lost: a, b" in text


def test_a_failed_stop_fails_the_run():
    report = DrillReport(
        mode="local",
        options={},
        final=final(),
        stops=[record(problems=["exit code 1 after a graceful stop (want 0)"])],
    )
    assert report.exit_code == 1
    assert "stop 1: exit code 1" in rendered(report)


def test_a_drill_that_could_not_finish_fails():
    report = DrillReport(mode="local", options={}, errors=["the api did not start"])
    assert report.exit_code == 1
    assert "could not finish: the api did not start" in verdict_line(report)


def test_extras_are_named_in_the_verdict_only_when_present():
    report = DrillReport(mode="local", options={}, final=final(dead=3, sent=50_010))
    line = verdict_line(report)
    assert "3 dead-lettered" in line
    assert "10 not acknowledged" in line
    assert "unexpected" not in line


def test_the_json_report_carries_the_same_facts():
    lost = IdVerdict(frozenset({"x"}), frozenset(), frozenset(), frozenset())
    report = DrillReport(
        mode="local",
        options={"events": 10},
        wall_s=12.3456,
        stops=[record(exit_code=0, stop_s=0.4, ids=lost, problems=["1 lost: x"])],
        final=final(),
        redeliveries=7,
        load={"requests": 5},
    )
    data = json.loads(json.dumps(to_json(report)))
    assert data["verdict"] == "FAIL"
    assert data["exit_code"] == 1
    assert data["wall_s"] == 12.346
    assert data["summary"].startswith("verdict: FAIL")
    assert data["redeliveries_absorbed"] == 7
    (stop,) = data["stops"]
    assert stop["checked"]["ids"]["lost"] == {"count": 1, "examples": ["x"]}
    assert stop["checked"]["exit_code"] == 0
    assert stop["ok"] is False
    assert data["final"]["accepted"] == 50_000
    assert data["options"] == {"events": 10}


SHAPE = {
    "agents": 2,
    "consumers_per_queue": 3,
    "redis": "one Valkey server (embedded)",
    "durability": "aof",
}


def test_the_table_and_the_json_state_the_shape():
    report = DrillReport(
        mode="local", options={}, final=final(), stops=[record(exit_code=0)], shape=SHAPE
    )
    assert (
        "sluicegate drill (local: 2 agents, 3 consumers per queue, "
        "Redis: one Valkey server (embedded), durability: aof)"
    ) in rendered(report)
    assert to_json(report)["shape"] == SHAPE


def test_a_deployment_s_shape_is_as_deployed_and_said_without_a_table():
    shape = dict.fromkeys(SHAPE)
    report = DrillReport(mode="deployment", options={}, final=final(), shape=shape)
    assert (
        "shape: agents and consumers as deployed, Redis: as deployed, durability: as deployed"
    ) in rendered(report)


def test_with_two_destinations_each_has_its_line_and_the_verdict_says_so():
    lines = (
        DestinationTally("sql", 50_000, 50_000, 0, 0, 0, lost=0, duplicated=0),
        DestinationTally("delta", 50_000, 50_000, 0, 0, 0, lost=0, duplicated=0),
    )
    stop = replace(
        record(kind="destination-down", label="destination down"),
        persisted_by={"sql": 900, "delta": 700},
    )
    report = DrillReport(mode="local", options={}, stops=[stop], final=final(destinations=lines))
    assert report.passed
    text = rendered(report)
    assert "persisted sql · delta" in text
    assert "900 · 700" in text
    assert (
        "destination delta: 50,000 accepted = 50,000 persisted + 0 queued + 0 in flight + 0 dead; "
        "0 lost, 0 duplicated" in text
    )
    assert verdict_line(report).startswith(
        "verdict: PASS — 50,000 accepted, persisted sql 50,000, delta 50,000, 0 lost, "
        "0 duplicated in each destination"
    )
    document = to_json(report)
    assert document["final"]["destinations"][1]["destination"] == "delta"
    assert document["stops"][0]["persisted_by_destination"] == {"sql": 900, "delta": 700}


def test_the_memory_line_says_whether_drained_streams_were_emptied():
    assert memory_line(final()) is None  # not read
    assert memory_line(final(streams=(("q", 0),))) == (
        "memory: reclaimed: 1 queue stream empty after the drain (trimmed once every "
        "destination had each entry, none early: 0 lost)"
    )
    left = DrillReport(mode="local", options={}, final=final(streams=(("q", 4),)))
    left.final_problems = final_problems(left.final)
    assert "memory: NOT reclaimed: 4 entries left in drained streams" in rendered(left)
    assert not left.passed
    assert to_json(left)["final"]["stream_entries_left"] == {"q": 4}


def test_the_counts_line_says_whether_redis_counts_add_up():
    assert counters_line(final()) is None  # not read
    assert counters_line(final(counters=(("q", 0),))) == (
        "counts: accepted = persisted + queued + in flight + dead in Redis's counts, 1 lane"
    )
    off = DrillReport(mode="local", options={}, final=final(counters=(("q", 0), ("r", 3))))
    off.final_problems = final_problems(off.final)
    assert "counts: Redis's counts do NOT add up in 1 of 2 lanes" in rendered(off)
    assert not off.passed
    assert to_json(off)["final"]["counters_unaccounted"] == {"q": 0, "r": 3}
