"""The checker on hand-made sets: a broken checker must not be able to hide a loss."""

from sluicegate.drill.checker import (
    FinalFacts,
    Holdings,
    IdVerdict,
    StopFacts,
    check_ids,
    final_problems,
    stop_problems,
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
