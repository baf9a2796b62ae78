"""``DESTINATIONS_FILE``: the destinations, and which queues deliver to which: docs/destinations.md.

```toml
[destinations.sql]          # a name (a-z, 0-9, '_', '-'): its consumer group, keys and metrics
kind = "sql"                # DATABASE_URL, unless `url` is given
[destinations.lake]
kind = "delta"              # options checked by destination/delta.py
uri = "file:///var/lib/sluicegate/lake"
start = "oldest"            # where a destination added to a queue already consumed starts
[[routes]]                  # the first route whose glob patterns match the queue wins
queues = ["orders-*"]
destinations = ["sql", "lake"]
```

A queue no route matches delivers to ``default`` (a list of names, at the top of the file), or,
without it, to every destination: nothing accepted is ever left without one. Without the file a
queue delivers to one destination, ``sql`` over DATABASE_URL, whose consumer group keeps its name
from before destinations (``consumers``). A mistake stops the command at start (exit 2, one line
naming the file and the entry); the file is read once, at start (docs/destinations.md says why).
"""

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from sluicegate.errors import ConfigurationError
from sluicegate.queue import keys
from sluicegate.toml_file import check_queue_pattern, matches_queue, read_toml

Kind = Literal["sql", "delta"]
Start = Literal["oldest", "now"]
KINDS: tuple[Kind, ...] = ("sql", "delta")
STARTS: tuple[Start, ...] = ("oldest", "now")
VARIABLE = "DESTINATIONS_FILE"
_COMMON_KEYS = frozenset({"kind", "start"})
_SQL_KEYS = _COMMON_KEYS | {"url"}
_ROUTE_KEYS = frozenset({"queues", "destinations"})
_TOP_KEYS = frozenset({"destinations", "routes", "default"})
_REMEMBERED_QUEUES = 100_000  # routes matched once per queue name, up to this many names


@dataclass(frozen=True, slots=True)
class Destination:
    """One named place a queue's events are persisted to, with its own consumer group."""

    name: str
    kind: Kind = "sql"
    start: Start = "oldest"
    url: str | None = None  # sql: None means DATABASE_URL
    options: Any = None  # delta: a destination.delta.DeltaOptions
    batch_max_events: int | None = None  # None: QUEUE_BATCH_SIZE
    batch_max_seconds: float | None = None  # None: a batch is read as soon as there is one

    @property
    def group(self) -> str:
        return keys.consumer_group(self.name)


@dataclass(frozen=True, slots=True)
class Route:
    queues: tuple[str, ...]  # glob patterns (fnmatchcase)
    destinations: tuple[str, ...]

    def matches(self, queue: str) -> bool:
        return matches_queue(queue, self.queues)


@dataclass(frozen=True, slots=True)
class Destinations:
    """The registry: every destination by name, and which of them each queue delivers to."""

    all: tuple[Destination, ...]
    routes: tuple[Route, ...] = ()
    default: tuple[str, ...] = ()  # a queue no route matches; empty: every destination
    source: Path | None = None  # the file, None for the default
    _by_queue: dict[str, tuple[Destination, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )  # what ``for_queue`` found, per queue name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(destination.name for destination in self.all)

    def named(self, name: str) -> Destination:
        for destination in self.all:
            if destination.name == name:
                return destination
        raise KeyError(name)

    def for_queue(self, queue: str) -> tuple[Destination, ...]:
        """The destinations ``queue`` delivers to, in the file's order of destinations."""
        found = self._by_queue.get(queue)
        if found is None:
            routes = (route.destinations for route in self.routes if route.matches(queue))
            wanted = next(routes, self.default)
            found = tuple(d for d in self.all if not wanted or d.name in wanted)
            if len(self._by_queue) < _REMEMBERED_QUEUES:
                self._by_queue[queue] = found
        return found

    def index(self, name: str) -> int:
        """The destination's position (its row in per-destination shared memory)."""
        return self.names.index(name)


DEFAULT = Destinations((Destination(keys.DEFAULT_DESTINATION),))


def load_destinations(path: Path | None) -> Destinations:
    """The file's registry, or ``DEFAULT`` without one; ConfigurationError for any mistake."""
    if path is None:
        return DEFAULT
    document = read_toml(VARIABLE, path)
    where = f"{VARIABLE} {path}"
    unknown = set(document) - _TOP_KEYS
    if unknown:
        raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)} (expected {_TOP_KEYS})")
    tables = document.get("destinations")
    if not isinstance(tables, dict) or not tables:
        raise ConfigurationError(f"{where}: needs at least one [destinations.NAME] table")
    found = tuple(_destination(where, name, table) for name, table in tables.items())
    names = {destination.name for destination in found}
    routes = tuple(_route(where, index, raw, names) for index, raw in enumerate(_list(document)))
    default = _names(f"{where}: default", document.get("default", []), names, empty_ok=True)
    return Destinations(found, routes, default, path)


def _list(document: Mapping[str, Any]) -> list[Any]:
    routes = document.get("routes", [])
    if not isinstance(routes, list):
        raise ConfigurationError(f"{VARIABLE}: routes must be [[routes]] tables")
    return routes


def _destination(where: str, name: str, table: Any) -> Destination:
    here = f"{where}: [destinations.{name}]"
    if not keys.is_valid_queue_name(name):
        raise ConfigurationError(
            f"{here}: a name is 1 to 64 of a-z, 0-9, '_', '-', starting with a letter or digit"
        )
    if not isinstance(table, dict):
        raise ConfigurationError(f"{here}: must be a table")
    kind, start = table.get("kind"), table.get("start", "oldest")
    if kind not in KINDS:
        raise ConfigurationError(f"{here}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if start not in STARTS:
        raise ConfigurationError(f"{here}: start must be one of {', '.join(STARTS)}")
    if kind == "sql":
        return _sql(here, name, table, cast(Start, start))
    return _delta(here, name, table, cast(Start, start))


def _sql(here: str, name: str, table: dict[str, Any], start: Start) -> Destination:
    unknown = set(table) - _SQL_KEYS
    if unknown:
        raise ConfigurationError(f"{here}: unknown keys {sorted(unknown)} for kind sql")
    url = table.get("url")
    if url is not None and (not isinstance(url, str) or not url):
        raise ConfigurationError(f"{here}: url must be a database URL (sqlite:///… postgresql://…)")
    return Destination(name, "sql", start, url=url)


def _delta(here: str, name: str, table: dict[str, Any], start: Start) -> Destination:
    """Options checked by ``destination/delta.py`` (imported here: it imports deltalake itself
    only when a consumer opens the table, never in the agent before a fork)."""
    try:
        delta = importlib.import_module("sluicegate.destination.delta")
    except ImportError as error:
        raise ConfigurationError(f"{here}: kind delta is not available: {error}") from None
    options_table = {key: value for key, value in table.items() if key not in _COMMON_KEYS}
    try:
        options = delta.DeltaOptions.from_table(options_table)
    except ConfigurationError as error:
        raise ConfigurationError(f"{here}: {error}") from None
    return Destination(
        name,
        "delta",
        start,
        options=options,
        batch_max_events=int(options.batch_max_events),
        batch_max_seconds=float(options.batch_max_seconds),
    )


def _route(where: str, index: int, raw: Any, names: set[str]) -> Route:
    here = f"{where}: routes[{index}]"
    if not isinstance(raw, dict) or set(raw) != _ROUTE_KEYS:
        raise ConfigurationError(f"{here}: needs exactly the keys queues and destinations")
    patterns = raw["queues"]
    if not isinstance(patterns, list) or not patterns:
        raise ConfigurationError(f"{here}: queues must be a non-empty list of glob patterns")
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ConfigurationError(f"{here}: queues must be a non-empty list of glob patterns")
        check_queue_pattern(pattern, here)
    return Route(tuple(patterns), _names(f"{here}: destinations", raw["destinations"], names))


def _names(here: str, raw: Any, names: set[str], empty_ok: bool = False) -> tuple[str, ...]:
    """A list of destination names, each defined once in the file."""
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        raise ConfigurationError(f"{here} must be a list of destination names")
    if not raw and not empty_ok:
        raise ConfigurationError(f"{here} must name at least one destination")
    unknown = [name for name in raw if name not in names]
    if unknown:
        raise ConfigurationError(f"{here}: no [destinations.NAME] table for {unknown}")
    if len(set(raw)) != len(raw):
        raise ConfigurationError(f"{here}: a destination is named twice")
    return tuple(raw)
