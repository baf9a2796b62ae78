"""The envelope read by msgspec: stored as the JSON the orjson path stores; the rest left to it."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.api.ingest.formats import envelope, envelope_raw
from sluicegate.api.ingest.formats.base import Intake
from sluicegate.settings import Settings
from tests.api.ingest.test_jsontext import json_values

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
_ITEM = st.fixed_dictionaries(
    {"payload": st.dictionaries(_TEXT, json_values, max_size=4)},
    optional={"event_id": st.none() | st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)},
)


def _id_or_none(item: dict[str, Any]) -> object:
    """Ids unique in a batch (a repeated one is refused on either path); None repeats freely."""
    return item.get("event_id") or object()


_BODY = st.one_of(_ITEM, st.lists(_ITEM, min_size=1, max_size=5, unique_by=_id_or_none))
_LAYOUTS = [{"separators": (",", ":")}, {}, {"indent": 2}, {"indent": "\t"}]


@settings(max_examples=40)
@given(_BODY, st.sampled_from(_LAYOUTS))
def test_the_stored_text_is_the_json_the_orjson_path_stores(body: Any, layout: Any) -> None:
    raw = json.dumps(body, ensure_ascii=False, **layout).encode()
    items = body if isinstance(body, list) else [body]
    intake = Intake("q", {}, Settings())
    built = envelope._parse_built(raw, intake)
    read = envelope_raw.read(raw)
    if read is None:  # a \u escape (json.dumps writes control characters so): the orjson path's
        assert b"\\u" in raw
        return
    assert read.batch == isinstance(body, list)
    assert list(read.given) == [item.get("event_id") for item in items]
    assert [json.loads(text) for text in read.texts] == [item["payload"] for item in items]
    assert [json.loads(text) for text in read.texts] == [json.loads(e.payload) for e in built]
    assert all(not text[0].isspace() for text in read.texts)


def test_a_payload_is_stored_as_sent_without_the_whitespace_between_tokens() -> None:
    raw = b'{"payload": { "b" : [1, 2],\n "n": 1E5, "big": 123456789012345678901234567890,'
    raw += b' "s": "a b\\n\\/", "k": 1, "k": 2, "e": 1e400 }}'
    read = envelope_raw.read(raw)
    assert read is not None
    stored = '{"b":[1,2],"n":1E5,"big":123456789012345678901234567890,"s":"a b\\n\\/",'
    assert read.texts == [stored + '"k":1,"k":2,"e":1e400}']


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (b'{"payload":{"s":"ab","n":[1,2.50]}}', ['{"s":"ab","n":[1,2.50]}']),  # as sent
        (b'{"payload":{"s":"a b","n":[1, 2]}}', ['{"s":"a b","n":[1,2]}']),
        (b'[{"payload":{"s":"a\\tb"}},\n{"payload":{}}]', ['{"s":"a\\tb"}', "{}"]),
    ],
)
def test_only_whitespace_between_tokens_goes(raw: bytes, stored: list[str]) -> None:
    read = envelope_raw.read(raw)
    assert read is not None
    assert read.texts == stored


@pytest.mark.parametrize(
    "raw",
    [
        b'{"payload": {"s": "\\u00e9"}}',  # escapes are decoded by the orjson path, as before
        b'{"payload": {"s": "\\ud800"}}',
        b'{"payload": {"s": "\xff"}}',  # not UTF-8: msgspec skips over it inside a string
        b'{"payload": {"s": "\xed\xa0\x80"}}',
        b'{"payload": {"x": NaN}}',
        b'{"payload": [1]}',
        b'[{"payload": {}}, {"payload": 1}]',
        b'{"event_id": "a b", "payload": {}}',
        b'{"event_id": 7, "payload": {}}',
        b'{"event_id": "a", "payload": {}, "extra": 1}',
        b'{"event_id": "a"}',
        b'"text"',
        b'{"payload": {}',
        b'{"payload": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    ],
)
def test_what_it_cannot_decide_goes_to_the_orjson_path(raw: bytes) -> None:
    assert envelope_raw.read(raw) is None
