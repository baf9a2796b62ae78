"""What an event id and a queue name must look like: the rules the format adapters check and the
OpenAPI document publishes, written once."""

from sluicegate.queue.keys import QUEUE_NAME_PATTERN

# No whitespace and no control characters (C0, DEL, C1): ids end up in logs, keys and SQL rows.
EVENT_ID_MAX_CHARS = 200
EVENT_ID_CHARS = rf"[^\s\x00-\x1f\x7f-\x9f]{{1,{EVENT_ID_MAX_CHARS}}}"
EVENT_ID_PATTERN = f"^{EVENT_ID_CHARS}$"
QUEUE_NAME_REGEX = f"^{QUEUE_NAME_PATTERN.pattern}$"
