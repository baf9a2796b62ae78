"""The W3C ``traceparent`` header (Trace Context level 1), checked before it is stored.

An event keeps the trace context of the request that brought it, so that the consumer's persist
span can link back to it (``tracing``). A malformed header is ignored, as the recommendation says
of a receiver, never refused: tracing must not cost anybody an event.
"""

import re

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16


def valid_traceparent(value: str | None) -> str | None:
    """``value`` when it is a traceparent worth keeping, else None. Version ff is invalid; a
    future version may append fields (kept as sent); version 00 may not."""
    if not value:
        return None
    value = value.strip()
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version, trace_id, parent_id, rest = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:
        return None
    if version == "00" and rest:
        return None
    return value
