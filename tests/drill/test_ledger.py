"""The ledger: outcomes only improve; an id with a request on the wire is never "refused"."""

import threading

from sluicegate.drill.ledger import Ledger, Outcome


def test_outcomes_are_recorded_per_id():
    ledger = Ledger()
    for batch, outcome in (
        (["a"], Outcome.ACKED),
        (["b"], Outcome.UNKNOWN),
        (["c"], Outcome.REFUSED),
    ):
        ledger.begin(batch)
        ledger.finish(batch, outcome, "x")
    view = ledger.view()
    assert (view.acked, view.unknown, view.refused) == ({"a"}, {"b"}, {"c"})
    assert view.sent == {"a", "b", "c"}
    assert ledger.acked_count() == 1
    assert ledger.requests == 3


def test_a_refused_batch_retried_to_acceptance_is_acknowledged():
    ledger = Ledger()
    ledger.begin(["a", "b"])
    ledger.finish(["a", "b"], Outcome.REFUSED, "503")
    ledger.begin(["a", "b"])
    ledger.finish(["a", "b"], Outcome.ACKED, "202")
    view = ledger.view()
    assert view.acked == {"a", "b"}
    assert not view.refused
    assert ledger.statuses == {"503": 1, "202": 1}


def test_an_outcome_never_gets_worse():
    ledger = Ledger()
    ledger.begin(["a"])
    ledger.finish(["a"], Outcome.UNKNOWN, "ReadTimeout")
    ledger.begin(["a"])
    ledger.finish(["a"], Outcome.REFUSED, "503")
    assert ledger.view().unknown == {"a"}
    ledger.begin(["a"])
    ledger.finish(["a"], Outcome.ACKED, "202")
    ledger.begin(["a"])
    ledger.finish(["a"], Outcome.REFUSED, "503")
    assert ledger.view().acked == {"a"}
    assert ledger.acked_count() == 1


def test_an_id_with_a_request_outstanding_counts_as_unknown_not_refused():
    ledger = Ledger()
    ledger.begin(["a"])
    ledger.finish(["a"], Outcome.REFUSED, "503")
    ledger.begin(["a"])  # the retry is on the wire
    view = ledger.view()
    assert view.unknown == {"a"}
    assert not view.refused


def test_concurrent_recording_is_consistent():
    ledger = Ledger()

    def record(start: int) -> None:
        for i in range(start, start + 1000):
            ledger.begin([f"e{i}"])
            ledger.finish([f"e{i}"], Outcome.ACKED, "202")

    threads = [threading.Thread(target=record, args=(n * 1000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.acked_count() == 4000
    assert len(ledger.view().acked) == 4000
