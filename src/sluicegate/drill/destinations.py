"""The destinations of a drill (``--destinations sql,delta``): the DESTINATIONS_FILE the drill
writes for the system it starts, and where it reads each destination back on its own.

Each destination is named after its kind (``sql``, ``delta``) and every drill queue delivers to
all of them. The drill reads the SQL store with its own query (``database``) and the Delta table
with its own log reader (``delta_table``), never through the code under test.
"""

from dataclasses import dataclass
from pathlib import Path

from sluicegate.drill import database, delta_table
from sluicegate.errors import DrillError
from sluicegate.queue import keys

KINDS = ("sql", "delta")
ONLY_SQL = ("sql",)
# A drill's lake batches: big enough to be a lake's (one commit a batch), short enough that the
# drill's backlog drains in seconds (docs/drill.md).
DELTA_BATCH_EVENTS = 2000
DELTA_BATCH_S = 0.5
DELTA_OPTIMIZE_S = 5.0  # compactions during the drill: the reader must follow their removes
_QUEUE, _ID = "queue", "event_id"


@dataclass(frozen=True, slots=True)
class Destination:
    """One destination as the auditor sees it: its consumer group and where its rows are."""

    name: str
    kind: str  # "sql" or "delta"
    location: str  # the database URL, or the Delta table's URI

    @property
    def group(self) -> str:
        return keys.consumer_group(self.name)

    def rows_by_queue(self, queues: list[str]) -> dict[str, list[str]]:
        """Every stored ``event_id`` of each queue, one per row (a duplicate appears twice)."""
        if self.kind == "sql":
            return database.rows_by_queue(self.location, queues)
        return {queue: self._lake_rows(queue) for queue in queues}

    def _lake_rows(self, queue: str) -> list[str]:
        """A queue's table (``{uri}/{queue}``): its ids, each row's queue checked too."""
        _, rows = delta_table.read_rows(f"{self.location.rstrip('/')}/{queue}", [_QUEUE, _ID])
        strays = {found for found, _ in rows if found != queue}
        if strays:
            raise DrillError(f"the Delta table of {queue} holds rows of {sorted(strays)[:3]}")
        return [event_id for _, event_id in rows]


def parse(text: str) -> tuple[str, ...]:
    """``sql,delta`` -> ("sql", "delta"); ValueError naming what is wrong."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in KINDS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(
            f"{text!r}: give one or more of {', '.join(KINDS)}, comma-separated, each once"
        )
    return names


def lake_uri(root: Path) -> str:
    return (root / "lake").as_uri()


def drill_destinations(names: tuple[str, ...], database_url: str, root: Path) -> list[Destination]:
    where = {"sql": database_url, "delta": lake_uri(root)}
    return [Destination(name, name, where[name]) for name in names]


def destinations_file(names: tuple[str, ...], root: Path) -> str:
    """The TOML of a drill's destinations: every queue delivers to each of them."""
    tables = []
    for name in names:
        tables.append(f'[destinations.{name}]\nkind = "{name}"\n')
        if name == "delta":
            tables[-1] += (
                f'uri = "{lake_uri(root)}"\nbatch_max_events = {DELTA_BATCH_EVENTS}\n'
                f"batch_max_seconds = {DELTA_BATCH_S}\noptimize_interval_s = {DELTA_OPTIMIZE_S}\n"
            )
    route = '[[routes]]\nqueues = ["*"]\ndestinations = [' + ", ".join(
        f'"{name}"' for name in names
    )
    return "\n".join([*tables, route + "]\n"])


def write_destinations_file(names: tuple[str, ...], root: Path) -> dict[str, str]:
    """DESTINATIONS_FILE for the services, written in ``root``; none when sql is the only one
    (the system's default)."""
    if names == ONLY_SQL:
        return {}
    path = root / "destinations.toml"
    path.write_text(destinations_file(names, root))
    return {"DESTINATIONS_FILE": str(path)}
