"""The schemas file (``SCHEMAS_FILE``): which queues hold to which JSON Schema, and what a
violation costs.

```toml
[schemas.orders]                  # a name, used in problems, dead letters and the log
queues = ["orders", "orders-*"]   # glob patterns (fnmatchcase), as in API_TOKENS_FILE
schema = "schemas/orders.json"    # a JSON Schema file; a relative path is from this file's folder
mode = "reject"                   # "reject" (422) | "quarantine" (202, to the dead letters)
```

A queue follows the first entry, in file order, with a pattern that matches it. Read at start, a
mistake (TOML, an entry, an unreadable or invalid schema) stops the API with exit 2 and one line
naming the file and the problem. Re-read on ``SIGHUP`` the way ``API_TOKENS_FILE`` is
(``toml_file.py``): a file or schema that no longer loads keeps the contracts in force and
logs why.
"""

import json
import re
from fnmatch import translate
from pathlib import Path
from typing import Any, cast

from sluicegate.api.auth.tokens import check_name
from sluicegate.api.contracts.contract import MODES, Contract, Mode, SchemaError, compile_schema
from sluicegate.errors import ConfigurationError
from sluicegate.toml_file import check_queue_pattern, read_toml, reread

_KEYS = frozenset({"queues", "schema", "mode"})


def load_contracts(path: Path) -> tuple[Contract, ...]:
    """Read and check the file and every schema it names; a ConfigurationError (one line, naming
    the file and the entry) for any mistake."""
    document = read_toml("SCHEMAS_FILE", path)
    entries = document.get("schemas", {})
    if set(document) - {"schemas"} or not isinstance(entries, dict):
        raise ConfigurationError(
            f"SCHEMAS_FILE {path}: expected only [schemas.NAME] tables, got {sorted(document)}"
        )
    return tuple(_contract(path, name, entry) for name, entry in entries.items())


def _contract(path: Path, name: str, entry: Any) -> Contract:
    where = f"SCHEMAS_FILE {path}: [schemas.{name}]"
    try:
        check_name(name)
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}: {error}") from None
    if not isinstance(entry, dict) or set(entry) != _KEYS:
        raise ConfigurationError(f"{where}: needs exactly the keys queues, schema and mode")
    queues, schema, mode = entry["queues"], entry["schema"], entry["mode"]
    if not isinstance(queues, list) or not queues or not all(isinstance(q, str) for q in queues):
        raise ConfigurationError(f"{where}: queues must be a non-empty list of glob patterns")
    for pattern in queues:
        check_queue_pattern(pattern, where)
    if mode not in MODES:
        raise ConfigurationError(f"{where}: mode must be one of {', '.join(MODES)}")
    if not isinstance(schema, str) or not schema:
        raise ConfigurationError(f"{where}: schema must be the path of a JSON Schema file")
    schema_file = path.parent / schema
    document = _read_schema(where, schema_file)
    try:
        compiled = compile_schema(document)
    except SchemaError as error:
        raise ConfigurationError(f"{where}: schema {schema_file}: {error}") from None
    return Contract(name, tuple(queues), schema_file, cast(Mode, mode), compiled)


def _read_schema(where: str, schema_file: Path) -> Any:
    try:
        return json.loads(schema_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigurationError(f"{where}: schema {schema_file}: {error}") from None


class Contracts:
    """The contracts in force, and which one a queue follows. One per API process (and one for
    ``sluicegate dlq replay``)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._take(load_contracts(path) if path is not None else ())

    def for_queue(self, queue: str) -> Contract | None:
        """The first contract whose patterns match ``queue``, or None."""
        for matches, contract in self._matchers:
            if matches(queue):
                return contract
        return None

    def reload(self) -> bool:
        """Re-read the file; on any error keep the contracts in force. True if it was taken."""
        table = reread(self.path, load_contracts, _names, self.table, ("schemas", "schemas"))
        if table is None:
            return False
        self._take(table)
        return True

    def _take(self, table: tuple[Contract, ...]) -> None:
        self.table = table
        # One regular expression per contract for all of its patterns: fnmatchcase's meaning.
        self._matchers = [
            (re.compile("|".join(translate(p) for p in c.queues)).match, c) for c in table
        ]


def _names(table: tuple[Contract, ...] | None) -> list[str]:
    return [contract.name for contract in table or ()]
