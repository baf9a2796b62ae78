"""NDJSON (``application/x-ndjson``): one sluicegate event per line, all-or-nothing.

What Vector's ``http`` sink, Redpanda Connect and ``jq -c`` emit. Blank lines (and a final newline)
are skipped; lines are numbered from 1 as an editor shows them, blank ones included, so the 422
points at the right line. The limits are those of a JSON batch.
"""

from typing import Any

from sluicegate.api.ingest import jsontext
from sluicegate.api.ingest.formats import checks, envelope
from sluicegate.api.ingest.formats.base import Intake
from sluicegate.api.problems import ProblemError
from sluicegate.events import Event

MEDIA_TYPE = "application/x-ndjson"
MEDIA_TYPES = frozenset({MEDIA_TYPE, "application/jsonl", "application/ndjson"})


def parse(raw: bytes, intake: Intake) -> list[Event]:
    settings = intake.settings
    lines = [(n, line) for n, line in enumerate(raw.split(b"\n"), start=1) if line.strip()]
    checks.check_batch_length(len(lines), settings.max_batch_events)
    numbers = [number for number, _ in lines]
    items: list[Any] = []
    exact = False
    for number, line in lines:
        try:
            item, line_exact = jsontext.loads(line)
        except jsontext.JsonDecodeError as error:
            raise ProblemError(
                400, "malformed-json", f"line {number} is not valid JSON: {error}"
            ) from None
        exact = exact or line_exact
        items.append(item)

    def field(index: int, name: str) -> str:
        return f"line {numbers[index]}: {name}" if name else f"line {numbers[index]}"

    return envelope.build(items, exact, field, intake)
