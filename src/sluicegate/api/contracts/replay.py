"""Which dead letters may go back into their queue: those its contract, as it is *now*, allows.

``sluicegate dlq replay`` and the dashboard's replay ask this before they move anything. A dead
letter that still breaks the queue's current schema stays where it is, whatever put it there (a
quarantine, or a payload the database refused), and the caller says why: replaying it would put an
event the contract forbids into the queue, where a reject-mode queue would never have taken it.
So the way to store quarantined events is: fix the schema (or the file), reload, replay.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from sluicegate.api.contracts.contract import Contract, Violation, parse
from sluicegate.queue.dead_letters import DeadLetter


@dataclass(frozen=True, slots=True)
class Sorted:
    """Dead letters split by the queue's current contract."""

    allowed: list[DeadLetter] = field(default_factory=list)
    kept: list[tuple[DeadLetter, list[Violation]]] = field(default_factory=list)


def sort_letters(contract: Contract | None, letters: Sequence[DeadLetter]) -> Sorted:
    """Every letter is allowed when the queue has no contract."""
    result = Sorted()
    for letter in letters:
        found = contract.schema.violations(parse(letter.event.payload)) if contract else []
        if found:
            result.kept.append((letter, found))
        else:
            result.allowed.append(letter)
    return result
