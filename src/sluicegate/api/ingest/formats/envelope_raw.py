"""The envelope read without building its payloads: each payload kept as the JSON text it was sent
as, with the whitespace between its tokens taken out.

orjson builds every payload's dicts, lists and strings only for them to be encoded again; that was
most of the API's CPU per event for batches (``bench/profile_e2e.py``). msgspec checks the whole
body is strict JSON (RFC 8259: no NaN, no trailing commas, no control characters in strings) and
hands each payload over as a ``msgspec.Raw`` slice, building nothing. What it does not do, the
caller falls back for (``envelope.parse_request``'s orjson path, which also names every error):

- a body with a ``\\u`` escape: stored as before, escapes decoded (a lone surrogate: a 400);
- bytes that are not UTF-8 inside a string: msgspec skips over them, the ``decode`` here does not;
- anything msgspec refuses or that is not a well-formed envelope (a payload not an object, an id
  that is no id, an unknown field, nesting deeper than msgspec's limit).

So every body refused before is refused the same way, and a body accepted here is stored as
JSON equal to what the orjson path stores: numbers spelled as sent (exact, at any length),
``\\/`` left escaped, and a key given twice in one object kept twice (PostgreSQL's jsonb, Python
and JavaScript keep the last, as the orjson path did). docs/performance.md has the figures.
"""

from collections.abc import Sequence
from typing import NamedTuple

import msgspec

from sluicegate.api.ingest.formats import checks


class _Item(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    payload: msgspec.Raw
    event_id: str | None = None


_DECODER = msgspec.json.Decoder(_Item | list[_Item])
_COMPACT = -1  # msgspec.json.format: no whitespace at all (0 keeps a space after ',' and ':')
_REFUSED = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError)


def _compact(raw: bytes) -> bool:
    """No whitespace byte at all, so none between tokens: nothing to take out. Four memchr calls
    (0.13 µs for 20 KB) against ``msgspec.json.format`` (4.5 µs): a body whose strings hold a
    space is formatted all the same."""
    return not (b" " in raw or b"\n" in raw or b"\r" in raw or b"\t" in raw)


class RawEnvelope(NamedTuple):
    """A well-formed body: the event ids given (None: mint one), each payload's stored text."""

    batch: bool
    given: Sequence[str | None]
    texts: Sequence[str]


def read(raw: bytes) -> RawEnvelope | None:
    """The body's events, or None when the orjson path must decide (see the module's doc)."""
    if b"\\" in raw and b"\\u" in raw:  # the first test is a memchr: nearly free
        return None
    try:
        compact = raw if _compact(raw) else msgspec.json.format(raw, indent=_COMPACT)
        document = _DECODER.decode(compact)
        items = document if isinstance(document, list) else [document]
        texts = [str(item.payload, "utf-8") for item in items]  # straight from the buffer
    except _REFUSED:
        return None
    given = [item.event_id for item in items]
    if not all([text[0] == "{" for text in texts]) or not checks.all_ids(given):
        return None
    return RawEnvelope(isinstance(document, list), given, texts)
