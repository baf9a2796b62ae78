"""The drill's own reader of a Delta table: its ``_delta_log`` by hand, its Parquet files by DuckDB.

The drill is the auditor, so it never reads the lake through ``deltalake`` (the code under test,
whose bugs it must catch) nor through DuckDB's ``delta`` extension (which downloads itself at run
time). It follows the Delta protocol's log replay itself: the newest complete checkpoint (its
``add`` rows are the live files then), then every commit after it in version order (``add``
puts a file in, ``remove`` takes it out); the live files' rows are read with ``read_parquet``, and
partition columns come from each file's ``partitionValues``, as the protocol says (they are not
in the files). Everything is read from one listing of the log, so a commit landing meanwhile is
simply not seen yet; a file that vanished under the read (a VACUUM after a newer commit) makes
the whole read start again.

What it does not read it refuses loudly rather than miscount: deletion vectors, column mapping.
"""

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from sluicegate.errors import DrillError

LOG = "_delta_log"
_COMMIT = re.compile(r"^(\d{20})\.json$")
# Classic (one file) and multi-part checkpoints: <version>.checkpoint[.<part>.<parts>].parquet
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?\.parquet$")
_ATTEMPTS = 5
_RETRY_S = 0.05


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The table at one version: its live files (path -> partition values) and its layout."""

    root: Path
    version: int
    files: dict[str, dict[str, str | None]]
    partition_columns: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()  # every column of the schema, partition columns included
    notes: tuple[str, ...] = field(default=())

    def file_path(self, path: str) -> str:
        """A live file's path on disk: relative paths are URL-encoded under the table's root."""
        if "://" in path:
            return local_path(path).as_posix()
        return (self.root / unquote(path)).as_posix()


def local_path(uri: str) -> Path:
    """The folder of a ``file://`` URI (or a plain path); DrillError for a remote store."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return Path(unquote(parts.path) if parts.scheme else uri)
    raise DrillError(f"the drill reads Delta tables on this machine only, not {uri!r}")


def snapshot(uri: str) -> Snapshot | None:
    """The table's latest version as its log says; None while there is no table yet."""
    root = local_path(uri)
    try:
        names = [entry.name for entry in (root / LOG).iterdir()]
    except FileNotFoundError:
        return None
    commits = sorted(int(m.group(1)) for m in map(_COMMIT.match, names) if m)
    checkpoint, parts = _newest_checkpoint(names)
    if not commits and checkpoint is None:
        return None
    replay = _Replay(root)
    if checkpoint is not None:
        replay.checkpoint(parts)
    start = -1 if checkpoint is None else checkpoint
    wanted = list(range(start + 1, (commits[-1] if commits else start) + 1))
    missing = sorted(set(wanted) - set(commits))
    if missing:
        raise _MovedError(f"commits {missing[:3]} missing from the log after version {start}")
    for version in wanted:
        replay.commit(root / LOG / f"{version:020d}.json")
    return replay.result(wanted[-1] if wanted else start)


def _newest_checkpoint(names: list[str]) -> tuple[int | None, list[Path]]:
    """The newest checkpoint with every part present (a checkpoint being written may not be)."""
    parts: dict[int, dict[int, str]] = {}
    expected: dict[int, int] = {}
    for name in names:
        match = _CHECKPOINT.match(name)
        if match:
            version = int(match.group(1))
            part, of = int(match.group(2) or 1), int(match.group(3) or 1)
            parts.setdefault(version, {})[part] = name
            expected[version] = of
    complete = [v for v in parts if len(parts[v]) == expected[v]]
    if not complete:
        return None, []
    newest = max(complete)
    return newest, [Path(parts[newest][part]) for part in sorted(parts[newest])]


class _MovedError(Exception):
    """The log or a file changed under the read (a cleanup or a VACUUM): read again."""


class _Replay:
    """The log replayed action by action: the live files and the table's metadata."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, dict[str, str | None]] = {}
        self.metadata: dict[str, Any] | None = None
        self.protocol: dict[str, Any] = {}

    def checkpoint(self, parts: list[Path]) -> None:
        paths = [(self.root / LOG / part).as_posix() for part in parts]
        rows = _duckdb_rows(
            "SELECT add.path, add.partitionValues, add.deletionVector IS NOT NULL, "
            "to_json(metaData), to_json(protocol) FROM read_parquet(?) "
            "WHERE add IS NOT NULL OR metaData IS NOT NULL OR protocol IS NOT NULL",
            [paths],
        )
        for path, values, deletion_vector, metadata, protocol in rows:
            if path is not None:
                self.add({"path": path, "partitionValues": dict(values or {}),
                          "deletionVector": deletion_vector or None})  # fmt: skip
            if metadata is not None:
                self.metadata = _restored_metadata(orjson.loads(metadata))
            if protocol is not None:
                self.protocol = orjson.loads(protocol)

    def commit(self, path: Path) -> None:
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError as error:
            raise _MovedError(f"{path.name} vanished from the log") from error
        for line in filter(None, (line.strip() for line in lines)):
            action = orjson.loads(line)
            if "add" in action:
                self.add(action["add"])
            elif "remove" in action:
                self.files.pop(action["remove"]["path"], None)
            elif "metaData" in action:
                self.metadata = action["metaData"]
            elif "protocol" in action:
                self.protocol = action["protocol"]

    def add(self, add: dict[str, Any]) -> None:
        if add.get("deletionVector"):
            raise DrillError(
                f"{add['path']} has a deletion vector: the drill's Delta reader does not read "
                "them, so it cannot count this table's rows"
            )
        self.files[add["path"]] = add.get("partitionValues") or {}

    def result(self, version: int) -> Snapshot:
        if self.metadata is None:
            raise DrillError(f"the Delta log of {self.root} has no metaData action")
        configuration = self.metadata.get("configuration") or {}
        mapping = configuration.get("delta.columnMapping.mode", "none")
        if mapping != "none":
            raise DrillError(f"{self.root} uses column mapping ({mapping}): not read by the drill")
        schema = orjson.loads(self.metadata["schemaString"])
        return Snapshot(
            self.root,
            version,
            self.files,
            tuple(self.metadata.get("partitionColumns") or ()),
            tuple(column["name"] for column in schema["fields"]),
        )


def _restored_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's metaData as the JSON log has it (DuckDB writes a map as key/value pairs
    or as an object, depending on the version)."""
    configuration = metadata.get("configuration")
    if isinstance(configuration, list):
        metadata["configuration"] = {pair["key"]: pair["value"] for pair in configuration}
    return metadata


def read_rows(uri: str, columns: Iterable[str]) -> tuple[Snapshot | None, list[tuple[Any, ...]]]:
    """Every live row's ``columns`` (partition columns included), at the newest version, with the
    snapshot they were read from; retried when a file vanishes under the read."""
    wanted = list(columns)
    for attempt in range(_ATTEMPTS):
        try:
            table = snapshot(uri)
            if table is None:
                return None, []
            return table, _rows_of(table, wanted)
        except _MovedError:
            if attempt == _ATTEMPTS - 1:
                raise
            time.sleep(_RETRY_S)
    raise AssertionError("unreachable")


def _rows_of(table: Snapshot, columns: list[str]) -> list[tuple[Any, ...]]:
    unknown = [column for column in columns if column not in table.columns]
    if unknown:
        raise DrillError(f"the Delta table {table.root} has no column {', '.join(unknown)}")
    if not table.files:
        return []
    # Partition values joined by file name: a VALUES list of (file, value, …) for each file.
    partitioned = [column for column in columns if column in table.partition_columns]
    paths = {table.file_path(path): values for path, values in table.files.items()}
    select = ", ".join(f"{'p' if c in partitioned else 'f'}.{_quoted(c)}" for c in columns)
    values_rows = [[path, *(values.get(c) for c in partitioned)] for path, values in paths.items()]
    names = ", ".join(["file", *(_quoted(c) for c in partitioned)])
    placeholders = ", ".join(["(" + ", ".join("?" * (1 + len(partitioned))) + ")"] * len(paths))
    statement = (  # names quoted, values bound: nothing of the table's text is run
        f"SELECT {select} FROM read_parquet(?, filename = true) AS f "  # noqa: S608
        f"JOIN (VALUES {placeholders}) AS p({names}) ON f.filename = p.file"
    )
    parameters = [list(paths), *(value for row in values_rows for value in row)]
    try:
        return _duckdb_rows(statement, parameters)
    except FileNotFoundError as error:
        raise _MovedError(str(error)) from error


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _duckdb_rows(statement: str, parameters: list[Any]) -> list[tuple[Any, ...]]:
    try:
        import duckdb
    except ImportError as error:
        raise DrillError(
            "reading a Delta table needs duckdb: pip install 'sluicegate[lake]'"
        ) from error
    with duckdb.connect() as db:
        try:
            return db.execute(statement, parameters).fetchall()
        except duckdb.IOException as error:
            if "No files found" in str(error) or "No such file" in str(error):
                raise FileNotFoundError(str(error)) from error
            raise
