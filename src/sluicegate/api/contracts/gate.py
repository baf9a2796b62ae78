"""The contracts applied to a request's events, between the format adapters and the queue: every
format (JSON, NDJSON, CloudEvents, webhooks) goes through ``route.accept``, so every stored payload
is checked here and only here.

``reject``: one event breaking the contract refuses the whole request (a batch stays all or
nothing) with a 422 naming, per event, its index in the request, its id and the JSON pointer of
each violation. ``quarantine``: the request is accepted and the events that break the contract go
to the queue's dead letters with their violations as the reason, in the same atomic, durable write
as the others (``queue/lua/enqueue.lua``), so accepted = persisted + queued + in flight + dead
holds at every instant.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sluicegate.api.contracts.contract import Contract, Violation, parse, reason
from sluicegate.api.contracts.file import Contracts
from sluicegate.api.metrics import ApiMetrics
from sluicegate.api.problems import FieldError, ProblemError, describe
from sluicegate.events import Event

_DETAILED = 10  # violations spelled out in ``detail``; ``errors`` has them all


@dataclass(frozen=True, slots=True)
class SchemaFieldError(FieldError):
    """A violation as a problem's ``errors`` entry: ``field`` is ``[index]`` + the pointer."""

    index: int
    event_id: str
    pointer: str

    def as_json(self) -> dict[str, object]:
        return {
            "field": self.field,
            "message": self.message,
            "index": self.index,
            "event_id": self.event_id,
            "pointer": self.pointer,
        }


@dataclass(frozen=True, slots=True)
class Gated:
    """What goes to the stream, and what goes straight to the dead letters with its reason."""

    queued: Sequence[Event]
    quarantined: Sequence[tuple[Event, str]] = ()


def gate(contracts: Contracts, metrics: ApiMetrics, queue: str, events: list[Event]) -> Gated:
    """Check ``events`` against the contract of ``queue``, if it has one; raises the 422 in
    ``reject`` mode."""
    contract = contracts.for_queue(queue)
    if contract is None:
        return Gated(events)
    # What the adapter parsed, or the stored text parsed again (an adapter that kept nothing).
    documents = [parse(e.payload) if e.document is None else e.document for e in events]
    if contract.schema.all_valid(documents):  # the common case: one call for the request
        return Gated(events)
    checked = ((i, contract.schema.violations(document)) for i, document in enumerate(documents))
    broken = [(i, found) for i, found in checked if found]
    if not broken:  # the one-call check and the per-event one disagree: never refuse for nothing
        return Gated(events)
    metrics.schema_violations.labels(queue, contract.mode).inc(len(broken))
    if contract.mode == "reject":
        raise _problem(contract, events, broken)
    reasons = {index: reason(contract, found) for index, found in broken}
    return Gated(
        [event for i, event in enumerate(events) if i not in reasons],
        [(events[i], why) for i, why in reasons.items()],
    )


def _problem(
    contract: Contract, events: list[Event], broken: list[tuple[int, list[Violation]]]
) -> ProblemError:
    errors = [
        SchemaFieldError(f"[{i}]{v.pointer}", v.message, i, events[i].event_id, v.pointer)
        for i, found in broken
        for v in found
    ]
    more = f" (and {len(errors) - _DETAILED} more in errors)" if len(errors) > _DETAILED else ""
    detail = (
        f"{len(broken)} of {len(events)} events break the schema {contract.describe()} of "
        f"queue '{events[0].queue}': {describe(errors[:_DETAILED])}{more}"
    )
    return ProblemError(422, "schema-violation", detail, errors=errors)
