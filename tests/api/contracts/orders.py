"""A realistic contract: an order with 10 properties (types, one enum, one pattern), a payload
that keeps it, and a SCHEMAS_FILE naming it. Shared by the tests and bench/bench_schemas.py."""

from pathlib import Path

import orjson

ORDER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "customer_id", "total", "currency", "status"],
    "properties": {
        "order_id": {"type": "string", "pattern": "^ord_[0-9a-z]{10}$"},
        "customer_id": {"type": "string"},
        "total": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
        "status": {"enum": ["placed", "paid", "shipped", "cancelled"]},
        "items": {"type": "integer", "minimum": 1},
        "created_at": {"type": "string"},
        "coupon": {"type": ["string", "null"]},
        "gift": {"type": "boolean"},
        "note": {"type": "string", "maxLength": 500},
    },
}
GOOD_ORDER = {
    "order_id": "ord_0123456789",
    "customer_id": "c-42",
    "total": 12.5,
    "currency": "EUR",
    "status": "paid",
    "items": 3,
    "created_at": "2026-12-05T23:00:00Z",
    "coupon": None,
    "gift": False,
    "note": "leave it at the door",
}


def write_schemas(folder: Path, mode: str, queues: str = '["orders", "orders-*"]') -> Path:
    """``folder/schemas.toml`` naming ``folder/schemas/orders.json`` (a relative path)."""
    (folder / "schemas").mkdir(exist_ok=True)
    (folder / "schemas" / "orders.json").write_bytes(orjson.dumps(ORDER_SCHEMA))
    path = folder / "schemas.toml"
    path.write_text(
        f'[schemas.orders]\nqueues = {queues}\nschema = "schemas/orders.json"\nmode = "{mode}"\n'
    )
    return path
