"""One queue contract: a compiled JSON Schema, and what a stored payload breaks of it.

The schema is compiled once with jsonschema-rs (Rust; bench/bench_schemas.py measured it against
fastjsonschema: about 3x faster per event, and it reports *every* violation where fastjsonschema
stops at the first). It runs offline: a ``$ref`` to another document is refused when the file is
read, never fetched. The payload checked is the JSON text as it will be stored, whatever format
brought it, so every format is held to the same contract in one place.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs

from sluicegate.api.ingest import jsontext

Mode = Literal["reject", "quarantine"]
MODES: tuple[Mode, ...] = ("reject", "quarantine")
# A request of MAX_BATCH_EVENTS events each breaking a schema everywhere would make a huge 422.
MAX_VIOLATIONS_PER_EVENT = 20
_CONTRACT_URI = "https://sluicegate.invalid/contract.json"  # where the batch validator finds it


@dataclass(frozen=True, slots=True)
class Violation:
    """One thing a payload breaks: where (an RFC 6901 JSON pointer into the payload) and what."""

    pointer: str
    message: str


@dataclass(frozen=True, slots=True)
class Schema:
    """A compiled JSON Schema: for one payload, and for all of a request's payloads in one call
    (``{"items": {"$ref": <the schema>}}``: about half the cost per event of a call per event, the
    Rust side's fixed cost paid once). ``many`` is None should a schema not let itself be referred
    to that way (none of the tests' schemas: see test_contract); then each payload is checked
    alone."""

    one: jsonschema_rs.Validator
    many: jsonschema_rs.Validator | None

    def all_valid(self, documents: Sequence[Any]) -> bool:
        if len(documents) == 1 or self.many is None:
            return all(self.one.is_valid(document) for document in documents)
        return self.many.is_valid(documents)

    def violations(self, document: Any) -> list[Violation]:
        """What ``document`` breaks, at most MAX_VIOLATIONS_PER_EVENT; [] if nothing."""
        found = []
        for error in self.one.iter_errors(document):
            found.append(Violation(pointer(error.instance_path), error.message))
            if len(found) == MAX_VIOLATIONS_PER_EVENT:
                break
        return found


@dataclass(frozen=True, slots=True)
class Contract:
    """The schema a set of queues (glob patterns) holds to, and what to do with a violation."""

    name: str
    queues: tuple[str, ...]
    schema_file: Path
    mode: Mode
    schema: Schema

    def describe(self) -> str:
        """How the contract is named in problems and reasons: ``orders (schemas/orders.json)``."""
        return f"{self.name} ({self.schema_file.name})"


def parse(payload: str) -> Any:
    """A stored payload's value, exactly (integers beyond 64 bits kept as they are).

    A JSON envelope's payload is stored as sent (``envelope_raw``), so it may hold a number
    beyond a double's range (``1e400``), which orjson refuses: the standard library reads that
    payload's fractions and exponents as ``Decimal``, exact, which jsonschema-rs compares."""
    try:
        return jsontext.loads(payload.encode())[0]
    except jsontext.JsonDecodeError:
        return json.loads(payload, parse_float=Decimal)


def pointer(path: list[str | int]) -> str:
    """``["items", 0, "a/b"]`` -> ``/items/0/a~1b`` (RFC 6901); ``[]`` -> ``""``, the whole."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


class SchemaError(ValueError):
    """A schema jsonschema-rs refuses; the message is the first line of its explanation."""


def compile_schema(schema: Any) -> Schema:
    """Validators that never fetch a ``$ref``; SchemaError for a schema that is not one."""
    try:
        one = jsonschema_rs.validator_for(schema, offline=True)
    except (ValueError, TypeError, jsonschema_rs.ReferencingError) as error:
        raise SchemaError(str(error).strip().splitlines()[0]) from None
    try:
        registry = jsonschema_rs.Registry([(_CONTRACT_URI, schema)])
        batch = {"items": {"$ref": _CONTRACT_URI}}
        many = jsonschema_rs.validator_for(batch, registry=registry, offline=True)
    except (ValueError, TypeError, jsonschema_rs.ReferencingError):
        many = None
    return Schema(one, many)


def reason(contract: Contract, violations: list[Violation]) -> str:
    """A dead letter's reason: the contract and every violation, on one line."""
    listed = "; ".join(f"{v.pointer or '(payload)'}: {v.message}" for v in violations)
    return f"schema {contract.describe()}: {listed}"
