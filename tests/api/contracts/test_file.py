"""The schemas file: what it must say, which contract a queue follows, a bad reload kept out."""

from pathlib import Path

import pytest

from sluicegate.api.contracts.file import Contracts, load_contracts
from sluicegate.errors import ConfigurationError
from tests.api.contracts.orders import write_schemas

ENTRY = '[schemas.orders]\nqueues = ["orders"]\nschema = "s.json"\nmode = "reject"\n'


@pytest.mark.parametrize(
    ("text", "schema", "says"),
    [
        ("[schemas.orders\n", "{}", "SCHEMAS_FILE"),
        ("[other]\n", "{}", "expected only [schemas.NAME]"),
        ('[schemas."a b"]\nqueues = ["o"]\nschema = "s.json"\nmode = "reject"\n', "{}", "name"),
        (ENTRY.replace('mode = "reject"', 'mode = "drop"'), "{}", "mode must be one of"),
        (ENTRY.replace('["orders"]', "[]"), "{}", "non-empty list of glob patterns"),
        (ENTRY.replace('["orders"]', '["Orders"]'), "{}", "queue pattern 'Orders'"),
        (ENTRY.replace('mode = "reject"\n', ""), "{}", "needs exactly the keys"),
        (ENTRY.replace('"s.json"', '"missing.json"'), "{}", "missing.json"),
        (ENTRY, "{not json", "s.json: Expecting property name"),
        (ENTRY, '{"type": "nonsense"}', 's.json: "nonsense" is not valid'),
        (ENTRY, '{"$ref": "other.json"}', "s.json: Resource 'other.json'"),
    ],
)
def test_a_bad_file_or_schema_is_one_line_naming_it(
    tmp_path: Path, text: str, schema: str, says: str
) -> None:
    path = tmp_path / "schemas.toml"
    path.write_text(text)
    (tmp_path / "s.json").write_text(schema)
    with pytest.raises(ConfigurationError) as raised:
        load_contracts(path)
    message = str(raised.value)
    assert says in message
    assert "\n" not in message
    assert message.startswith(f"SCHEMAS_FILE {path}")


def test_a_queue_follows_the_first_entry_that_matches(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text("{}")
    path = tmp_path / "schemas.toml"
    path.write_text(
        '[schemas.audit]\nqueues = ["audit-[0-9]*"]\nschema = "s.json"\nmode = "quarantine"\n\n'
        '[schemas.rest]\nqueues = ["a*", "orders"]\nschema = "s.json"\nmode = "reject"\n'
    )
    contracts = Contracts(path)

    def name(queue: str) -> str | None:
        contract = contracts.for_queue(queue)
        return None if contract is None else contract.name

    assert name("audit-7") == "audit"
    assert name("audit-x") == "rest"
    assert name("orders") == "rest"
    assert name("orders-eu") is None  # a glob matches the whole name
    assert name("billing") is None
    assert Contracts(None).for_queue("orders") is None


def test_a_failed_reload_keeps_the_contracts_in_force(tmp_path: Path) -> None:
    path = write_schemas(tmp_path, "reject")
    contracts = Contracts(path)
    (tmp_path / "schemas" / "orders.json").write_text('{"type": 3}')
    assert contracts.reload() is False
    assert contracts.for_queue("orders") is not None

    path.write_text(path.read_text().replace('"reject"', '"quarantine"'))
    (tmp_path / "schemas" / "orders.json").write_text("{}")
    assert contracts.reload() is True
    contract = contracts.for_queue("orders-eu")
    assert contract is not None
    assert contract.mode == "quarantine"
