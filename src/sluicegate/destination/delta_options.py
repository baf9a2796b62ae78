"""A Delta destination's options, checked from its DESTINATIONS_FILE table (docs/destinations.md).

Pure Python: the agent reads and checks them at start without loading deltalake (whose runtime
must never exist in a process before it forks).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from sluicegate.errors import ConfigurationError

# The object stores delta-rs's Python wheel opens, and local folders (``file://`` or a path).
SCHEMES = frozenset(
    {"", "file", "s3", "s3a", "gs", "az", "abfs", "abfss", "adl", "azure", "lakefs"}
)
_HOUR_S = 3600.0
_DAY_S = 86_400.0
_MIB = 1024 * 1024
_IGNORED = frozenset({"kind"})  # the registry's own key, when it passes the whole table


@dataclass(frozen=True, slots=True)
class DeltaOptions:
    """``uri``: the folder holding one Delta table per queue (``{uri}/{queue}``).
    ``batch_max_events``/``batch_max_seconds``: how much the consumer gathers into one commit
    (one Parquet file per day it spans). ``dedup_window_s``: a MERGE finds an id stored before
    among the events accepted this long before or after the batch's. ``optimize_interval_s``:
    how often a consumer compacts a table it writes (0: never), into files of about
    ``optimize_target_bytes``; each compaction is followed by a VACUUM of the files removed more
    than ``vacuum_retention_s`` ago (whole hours). ``storage_options``: passed to delta-rs as
    they are (credentials: never logged, not in ``repr``)."""

    uri: str
    batch_max_events: int = 10_000
    batch_max_seconds: float = 10.0
    dedup_window_s: float = _HOUR_S
    optimize_interval_s: float = _HOUR_S
    optimize_target_bytes: int = 128 * _MIB
    vacuum_retention_s: float = 7 * _DAY_S
    # not hashed (a dict): the registry, cached by value, hashes every option
    storage_options: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], name: str = "") -> "DeltaOptions":
        """The options of a TOML table; ConfigurationError naming the key (``name.key`` when
        ``name`` is given) and what is wrong."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known - _IGNORED)
        if unknown:
            raise ConfigurationError(f"unknown keys {unknown} (known: {sorted(known)})")
        if "uri" not in table:
            raise ConfigurationError("uri is required (file:///var/lib/lake, s3://…)")
        values = {key: _checked(name, key, table[key]) for key in known & set(table)}
        return cls(**values)

    def table_uri(self, queue: str) -> str:
        """Where ``queue``'s table lives (queue names are path-safe: ``queue/keys.py``)."""
        return f"{self.uri.rstrip('/')}/{queue}"

    @property
    def vacuum_retention_hours(self) -> int:
        return math.ceil(self.vacuum_retention_s / _HOUR_S)


def _checked(name: str, key: str, value: Any) -> Any:
    """``value`` for ``key`` if it is valid; ConfigurationError otherwise."""
    where = f"{name}.{key}" if name else key
    if key == "uri":
        return _uri(where, value)
    if key == "storage_options":
        return _storage_options(where, value)
    low, high = _RANGES[key]
    number = _number(where, value, integer=key in _INTEGERS)
    if not low <= number <= high:
        raise ConfigurationError(f"{where}: {value!r} is out of range [{low}, {high}]")
    if key == "optimize_interval_s" and 0 < number < 1:
        raise ConfigurationError(f"{where}: 0 (never) or at least 1 second, not {value!r}")
    return number


_INTEGERS = frozenset({"batch_max_events", "optimize_target_bytes"})
_RANGES: dict[str, tuple[float, float]] = {
    "batch_max_events": (1, 1_000_000),
    "batch_max_seconds": (0.001, 3600),
    "dedup_window_s": (0, 30 * _DAY_S),
    "optimize_interval_s": (0, 7 * _DAY_S),
    "optimize_target_bytes": (_MIB, 4096 * _MIB),
    "vacuum_retention_s": (_HOUR_S, 365 * _DAY_S),
}


def _number(where: str, value: Any, integer: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{where}: a number is needed, not {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigurationError(f"{where}: a whole number is needed, not {value!r}")
    if not math.isfinite(value):
        raise ConfigurationError(f"{where}: a finite number is needed, not {value!r}")
    return value


def _uri(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{where}: a URI is needed (file:///var/lib/lake, s3://…)")
    scheme = urlsplit(value).scheme
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"{where}: scheme {scheme!r} is not one delta-rs opens ({', '.join(sorted(SCHEMES))})"
        )
    if scheme == "" and not value.startswith("/"):
        raise ConfigurationError(f"{where}: a local folder must be absolute or file:///…")
    return value


def _storage_options(where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigurationError(f"{where}: a table of strings is needed")
    wrong = sorted(key for key, item in value.items() if not isinstance(item, str))
    if wrong:  # the values themselves are never shown: they may be secrets
        raise ConfigurationError(f"{where}: values must be strings (keys {wrong})")
    unsafe = {key.upper(): item.strip().lower() for key, item in value.items()}
    if unsafe.get(_UNSAFE_RENAME) in ("true", "1", "yes"):
        raise ConfigurationError(
            f"{where}: {_UNSAFE_RENAME} lets two commits of one version overwrite each other "
            "(a persisted batch lost after its ack): use AWS_S3_LOCKING_PROVIDER = 'dynamodb', "
            "or aws_conditional_put = 'etag' where the store has conditional writes"
        )
    return dict(value)


_UNSAFE_RENAME = "AWS_S3_ALLOW_UNSAFE_RENAME"
