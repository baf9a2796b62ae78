"""The checker on hand-made sets: a broken checker must not be able to hide a loss."""

from sluicegate.drill.checker import (
    EXAMPLES,
    FinalFacts,
    Holdings,
    IdVerdict,
    LagSummary,
    QueueTally,
    StopFacts,
    check_destinations,
    check_ids,
    check_queues,
    destination_tally,
    final_problems,
    lag_summary,
    stop_problems,
    tally,
)
from sluicegate.drill.ledger import LedgerView

CLEAN = IdVerdict(frozenset(), frozenset(), frozenset(), frozenset())


def view(acked=(), unknown=(), refused=()) -> LedgerView:
    return LedgerView(frozenset(acked), frozenset(unknown), frozenset(refused))


def ids(*names: str) -> frozenset[str]:
    return frozenset(names)


def test_every_acknowledged_id_somewhere_is_clean():
    ledger = view(acked=["a", "b", "c", "d"])
    holdings = Holdings(
        queued=ids("a"), in_flight=ids("b"), dead=ids("c"), persisted=ids("d"), rows=1
    )
    verdict = check_ids(ledger, holdings, ledger)
    assert verdict.ok
    assert verdict.problems == []


def test_an_acknowledged_id_found_nowhere_is_lost():
    ledger = view(acked=["a", "b", "c"])
    verdict = check_ids(ledger, Holdings(persisted=ids("a", "c"), rows=2), ledger)
    assert verdict.lost == {"b"}
    assert not verdict.ok
    assert verdict.problems == ["1 lost: b"]


def test_every_acknowledged_id_missing_is_lost_when_nothing_is_found():
    ledger = view(acked=[f"e{i}" for i in range(10)])
    verdict = check_ids(ledger, Holdings(), ledger)
    assert len(verdict.lost) == 10
    assert "(+5)" in verdict.problems[0]


def test_lost_is_judged_on_the_view_taken_before_reading():
    # "x" was acknowledged after the stream was read: it cannot be lost yet.
    before, after = view(acked=["a"]), view(acked=["a", "x"])
    verdict = check_ids(before, Holdings(persisted=ids("a"), rows=1), after)
    assert verdict.ok


def test_unknown_outcomes_may_land_or_not():
    ledger = view(acked=["a"], unknown=["u1", "u2"])
    verdict = check_ids(ledger, Holdings(persisted=ids("a", "u1"), rows=2), ledger)
    assert verdict.ok


def test_a_refused_id_that_is_stored_is_unexpected():
    ledger = view(acked=["a"], refused=["r"])
    verdict = check_ids(ledger, Holdings(persisted=ids("a", "r"), rows=2), ledger)
    assert verdict.refused_stored == {"r"}
    assert not verdict.ok


def test_a_refused_id_still_queued_is_unexpected_too():
    ledger = view(refused=["r"])
    verdict = check_ids(ledger, Holdings(queued=ids("r")), ledger)
    assert verdict.refused_stored == {"r"}


def test_a_stored_id_never_sent_is_unexpected():
    ledger = view(acked=["a"])
    verdict = check_ids(ledger, Holdings(persisted=ids("a", "ghost"), rows=2), ledger)
    assert verdict.unexpected == {"ghost"}
    assert "never sent" in verdict.problems[0]


def test_unexpected_is_judged_on_the_view_taken_after_reading():
    before, after = view(), view(unknown=["late"])  # sent while the stream was being read
    verdict = check_ids(before, Holdings(queued=ids("late")), after)
    assert verdict.ok


def test_duplicated_rows_are_reported_by_id():
    ledger = view(acked=["a", "b"])
    holdings = Holdings(persisted=ids("a", "b"), duplicated=ids("a"), rows=3)
    verdict = check_ids(ledger, holdings, ledger)
    assert verdict.duplicated == {"a"}
    assert not verdict.ok


def test_more_rows_than_distinct_ids_is_a_duplicate_even_without_ids():
    ledger = view(acked=["a"])
    verdict = check_ids(ledger, Holdings(persisted=ids("a"), rows=2), ledger)
    assert not verdict.ok
    assert "1 extra rows" in verdict.problems[0]


def test_a_clean_graceful_stop_passes():
    facts = StopFacts(
        "term", CLEAN, exit_code=0, stop_s=0.4, deadline_s=5.0, stale_locks=0, in_flight=0
    )
    assert stop_problems(facts) == []


def test_each_broken_graceful_promise_is_named():
    facts = StopFacts(
        "term", CLEAN, exit_code=1, stop_s=6.0, deadline_s=5.0, stale_locks=1, in_flight=12
    )
    problems = stop_problems(facts)
    assert len(problems) == 4
    assert "exit code 1" in problems[0]
    assert "deadline" in problems[1]
    assert "1 stale lock after a graceful stop" in problems[2]
    assert "12 events in flight" in problems[3]


def test_facts_that_do_not_apply_are_not_checked():
    assert stop_problems(StopFacts("kill", CLEAN, exit_code=None, stale_locks=None)) == []


def test_a_kill_whose_orphans_are_never_reclaimed_fails():
    problems = stop_problems(StopFacts("kill", CLEAN, orphaned=500))
    assert problems == ["500 events held by killed consumers never reclaimed"]


def test_a_loss_found_at_a_stop_fails_the_stop():
    lost = IdVerdict(ids("x"), frozenset(), frozenset(), frozenset())
    assert stop_problems(StopFacts("term", lost, exit_code=0)) == ["1 lost: x"]


def test_notes_of_the_fault_are_problems():
    assert stop_problems(StopFacts("api-term", CLEAN, notes=("api did not restart",))) == [
        "api did not restart"
    ]


def final(**changes) -> FinalFacts:
    base = dict(
        ids=CLEAN,
        accepted=10,
        sent=10,
        persisted=10,
        dead=0,
        queued=0,
        in_flight=0,
        unknown_absent=0,
    )
    return FinalFacts(**{**base, **changes})


def test_a_drained_clean_end_passes():
    assert final_problems(final()) == []


def test_an_end_that_did_not_drain_fails():
    assert final_problems(final(queued=3, in_flight=2)) == [
        "not drained: 3 queued and 2 in flight at the end"
    ]


def test_a_bad_final_shutdown_fails_the_end():
    shutdown = StopFacts("term", CLEAN, exit_code=0, stale_locks=1)
    assert final_problems(final(shutdown=shutdown)) == [
        "final shutdown: 1 stale lock after a graceful stop"
    ]


def test_a_loss_at_the_end_fails():
    lost = IdVerdict(ids("a", "b"), frozenset(), frozenset(), frozenset())
    assert final_problems(final(ids=lost)) == ["2 lost: a, b"]


def test_a_loss_in_one_of_several_queues_fails_and_names_the_queue():
    ledgers = {"q-0": view(acked=["a", "b"]), "q-1": view(acked=["c", "d"])}
    holdings = {
        "q-0": Holdings(persisted=ids("a", "b"), rows=2),
        "q-1": Holdings(persisted=ids("c"), rows=1),
    }
    verdict = check_queues(ledgers, holdings, ledgers)
    assert verdict.lost == {"d"}
    assert verdict.problems == ["1 lost: d", "queue q-1: 1 lost: d"]


def test_an_id_stored_in_another_queue_is_lost_from_its_own_and_unexpected_in_the_other():
    ledgers = {"q-0": view(acked=["a"]), "q-1": view(acked=["b"])}
    holdings = {
        "q-0": Holdings(persisted=ids("a", "b"), rows=2),
        "q-1": Holdings(),
    }
    verdict = check_queues(ledgers, holdings, ledgers)
    assert verdict.lost == {"b"}
    assert verdict.unexpected == {"b"}
    assert "queue q-0: 1 unexpected (never sent): b" in verdict.problems
    assert "queue q-1: 1 lost: b" in verdict.problems


def test_the_failing_queues_named_are_capped():
    queues = [f"q-{n}" for n in range(EXAMPLES + 3)]
    ledgers = {queue: view(acked=[f"{queue}-x"]) for queue in queues}
    holdings = {queue: Holdings() for queue in queues}
    verdict = check_queues(ledgers, holdings, ledgers)
    assert len(verdict.lost) == len(queues)
    assert verdict.problems[-1] == "… 3 more queues with problems"
    assert len(verdict.problems) == 1 + EXAMPLES + 1


def test_one_queue_is_checked_as_before():
    ledger = view(acked=["a"])
    verdict = check_queues({"q": ledger}, {"q": Holdings()}, {"q": ledger})
    assert verdict.problems == ["1 lost: a"]


def test_the_tally_counts_only_accepted_ids_where_they_are():
    holdings = Holdings(queued=ids("a"), in_flight=ids("b"), persisted=ids("c", "z"), rows=2)
    assert tally("q", ids("a", "b", "c", "d"), holdings) == QueueTally(
        "q", accepted=4, persisted=1, queued=1, in_flight=1, dead=0
    )


def test_a_queue_left_with_work_is_named_at_the_end():
    facts = final(
        accepted=2,
        sent=2,
        persisted=1,
        queued=1,
        queues=(QueueTally("q-0", 1, 1, 0, 0, 0), QueueTally("q-1", 1, 0, 1, 0, 0)),
    )
    assert final_problems(facts) == [
        "not drained: 1 queued and 0 in flight at the end",
        "queue q-1 not drained: 1 queued, 0 in flight",
    ]


def test_lag_percentiles_are_over_each_queues_worst_lag():
    worst = {f"q-{n}": (n + 1) * 10 for n in range(100)}  # 10, 20, … 1,000 ms
    assert lag_summary(worst) == LagSummary(
        queues=100, p50_ms=500, p95_ms=950, p99_ms=990, max_ms=1000, slowest="q-99"
    )
    assert lag_summary({"q": 7}) == LagSummary(1, 7, 7, 7, 7, "q")
    assert lag_summary({}) is None


def test_each_destination_must_hold_every_id_on_its_own():
    ledger = {"q": view(acked=["a", "b", "c"])}
    everything = {"q": Holdings(persisted=ids("a", "b", "c"), rows=3)}
    lake = {"q": Holdings(persisted=ids("a", "c"), duplicated=ids("c"), rows=3)}
    verdict = check_destinations(ledger, {"sql": everything, "lake": lake}, ledger)
    assert verdict.lost == {"b"}  # the union: b is lost from the lake, whatever sql holds
    assert verdict.duplicated == {"c"}
    assert verdict.problems == ["destination lake: 1 lost: b", "destination lake: 1 duplicated: c"]
    [(_, sql), (_, lake_verdict)] = verdict.destinations
    assert sql.ok
    assert not lake_verdict.ok
    assert check_destinations(ledger, {"sql": everything}, ledger).problems == []


def test_each_destination_must_account_for_every_accepted_id_once():
    acked = ids("a", "b", "c", "d")
    clean = Holdings(queued=ids("a"), in_flight=ids("b"), persisted=ids("c", "d"), rows=2)
    tally_ok = destination_tally("sql", acked, clean, CLEAN)
    assert (tally_ok.accounted, tally_ok.accepted) == (4, 4)
    both = Holdings(dead=ids("d"), persisted=ids("a", "b", "c", "d"), rows=4)
    end = final(destinations=(tally_ok, destination_tally("lake", acked, both, CLEAN)))
    assert final_problems(end) == [
        "destination lake: 4 accepted but 4 persisted + 0 queued + 0 in flight + 1 dead = 5",
        "destination lake: 1 dead-lettered, yet the drill sends nothing a destination should "
        "refuse",
    ]


def test_a_drained_stream_that_still_holds_entries_fails_the_end():
    assert final_problems(final(streams=(("q-0", 0), ("q-1", 0)))) == []
    assert final_problems(final(streams=(("q-0", 0), ("q-1", 7)))) == [
        "memory not reclaimed: 7 entries left in drained streams: q-1 7"
    ]
    # Not drained: the entries are the work left, which "not drained" already says.
    assert final_problems(final(queued=3, streams=(("q-0", 3),))) == [
        "not drained: 3 queued and 0 in flight at the end"
    ]


def test_redis_counts_that_do_not_add_up_fail_the_end():
    assert final_problems(final(counters=(("orders", 0), ("orders/lake", 0)))) == []
    assert final_problems(final(counters=(("orders", 0), ("orders/lake", -100)))) == [
        "Redis's counts of orders/lake do not add up: accepted - (persisted + queued + "
        "in flight + dead) = -100"
    ]
