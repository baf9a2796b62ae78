"""One compiled contract: what a payload breaks, as JSON pointers."""

from decimal import Decimal

import pytest

from sluicegate.api.contracts.contract import (
    MAX_VIOLATIONS_PER_EVENT,
    Schema,
    SchemaError,
    Violation,
    compile_schema,
    parse,
    pointer,
)
from tests.api.contracts.orders import GOOD_ORDER, ORDER_SCHEMA


def contract(schema: object) -> Schema:
    return compile_schema(schema)


def test_a_good_payload_breaks_nothing() -> None:
    assert contract(ORDER_SCHEMA).violations(GOOD_ORDER) == []


def test_every_violation_is_named_by_its_pointer() -> None:
    bad = {**GOOD_ORDER, "order_id": "ORD-1", "status": "lost", "total": "12"}
    del bad["currency"]
    found = contract(ORDER_SCHEMA).violations(bad)
    assert sorted(v.pointer for v in found) == ["", "/order_id", "/status", "/total"]
    assert Violation("", '"currency" is a required property') in found


@pytest.mark.parametrize(
    ("path", "expected"),
    [([], ""), (["a", 0, "b"], "/a/0/b"), (["a/b", "c~d"], "/a~1b/c~0d")],
)
def test_pointers_follow_rfc_6901(path: list[str | int], expected: str) -> None:
    assert pointer(path) == expected


def test_integers_beyond_64_bits_are_checked_exactly() -> None:
    # orjson would read 2**64 + 1 as a float; the exact parse keeps it an integer.
    schema = {"properties": {"n": {"type": "integer", "maximum": 2**64 + 1}}}
    assert contract(schema).violations(parse('{"n":18446744073709551617}')) == []
    assert contract(schema).violations(parse('{"n":18446744073709551618}')) != []


def test_a_number_beyond_a_double_is_read_exactly() -> None:
    # Stored as sent since the envelope is read by msgspec; orjson alone would refuse it.
    assert parse('{"n":1e400}') == {"n": Decimal("1e400")}
    assert contract({"properties": {"n": {"maximum": 10}}}).violations(parse('{"n":1e400}'))


def test_violations_per_event_are_capped() -> None:
    schema = {"additionalProperties": {"type": "string"}}
    payload = {f"k{i}": i for i in range(50)}
    assert len(contract(schema).violations(payload)) == MAX_VIOLATIONS_PER_EVENT


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ({"type": "nonsense"}, "anyOf"),
        ({"pattern": "(?<"}, "regex"),
        ({"$ref": "https://example.com/other.json"}, "Retrieval is disabled"),
        (5, "not of types"),
    ],
)
def test_a_bad_schema_is_refused_in_one_line(schema: object, says: str) -> None:
    with pytest.raises(SchemaError, match=r"^[^\n]*$") as raised:
        compile_schema(schema)
    assert says in str(raised.value)


DRAFT_7 = "http://json-schema.org/draft-07/schema#"
DRAFT_4 = "http://json-schema.org/draft-04/schema#"


@pytest.mark.parametrize(
    "schema",
    [
        ORDER_SCHEMA,
        {"$id": "https://example.com/o.json", "$defs": {"p": {"minimum": 0}},
         "properties": {"total": {"$ref": "#/$defs/p"}}},
        {"$defs": {"p": {"$anchor": "pos", "minimum": 0}},
         "properties": {"total": {"$ref": "#pos"}}},
        {"$schema": DRAFT_7, "definitions": {"p": {"minimum": 0}},
         "properties": {"total": {"$ref": "#/definitions/p"}, "mail": {"format": "email"}}},
        {"$schema": DRAFT_4, "properties": {"total": {"maximum": 0, "exclusiveMaximum": True}}},
        {"$id": "relative.json", "properties": {"total": {"minimum": 0}}},
    ],
)  # fmt: skip
def test_a_request_checked_at_once_agrees_with_each_event_checked_alone(schema: object) -> None:
    compiled = compile_schema(schema)
    assert compiled.many is not None
    unbatched = Schema(compiled.one, None)  # the fallback, should a schema not allow a batch
    payloads = [GOOD_ORDER, {**GOOD_ORDER, "total": -1}, {"total": 0, "mail": "not-an-address"}]
    for first in range(len(payloads)):
        for last in range(first + 1, len(payloads) + 1):
            chosen = payloads[first:last]
            alone = all(compiled.one.is_valid(payload) for payload in chosen)
            assert compiled.all_valid(chosen) == alone, (chosen, alone)
            assert unbatched.all_valid(chosen) == alone
