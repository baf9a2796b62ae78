"""Every Redis key name sluicegate uses.

Per-queue keys carry the hash tag ``{queue}`` so that a queue's stream, dead letters, stats and
worker locks live in one Redis Cluster slot and can share a MULTI transaction.
"""

import re

PREFIX = "sluicegate"
QUEUES_SET = f"{PREFIX}:queues"
# The destination a queue has without DESTINATIONS_FILE; its consumer group keeps the name it had
# before destinations (``consumers``), so existing streams continue where they are.
DEFAULT_DESTINATION = "sql"
CONSUMER_GROUP = "consumers"
# One hash, field = "agent destination": agents backing off because a destination's database
# refuses connections (queue/backoff_notes.py).
DATABASE_BACKOFF = f"{PREFIX}:database-backoff"
# One hash: what the last maintenance pass found per queue (queue/retention_record.py).
RETENTION = f"{PREFIX}:retention"

QUEUE_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

# Field names inside a stream entry.
FIELD_EVENT_ID = "id"
FIELD_PAYLOAD = "payload"
FIELD_ACCEPTED_AT = "accepted_at_ms"
FIELD_TRACEPARENT = "traceparent"  # W3C trace context of the POST, only when it sent one
FIELD_REASON = "reason"
REASON_MAX_CHARS = 2000  # a dead letter's reason is cut to this
FIELD_DELIVERIES = "deliveries"
FIELD_DEAD_AT = "dead_at_ms"
# A packed entry (several events of one request: queue/entry_format.py) has these instead of
# id and payload.
FIELD_COUNT = "n"
FIELD_IDS = "ids"
FIELD_PAYLOADS = "payloads"

# Field names inside the per-queue stats hash.
STAT_ACCEPTED = "accepted"
# lua/lib/counts.lua: dead letters replayed into the stream, events packed beyond the first of
# their entries, entries the scripts deleted from the stream
STAT_REAPPENDED = "reappended"
STAT_PACKED_EXTRA = "packed_extra"
STAT_ENTRIES_DELETED = "entries_deleted"
STAT_PERSISTED = "persisted"
STAT_DUPLICATES_SUPPRESSED = "duplicates_suppressed"
STAT_DEAD_LETTERED = "dead_lettered"
STAT_RECLAIMED = "reclaimed"
# Events a schema contract sent to the dead letters at ingest (listed with the default
# destination's): the queue's other destinations count them as dead too.
STAT_QUARANTINED = "quarantined"


def is_valid_queue_name(name: str) -> bool:
    return QUEUE_NAME_PATTERN.fullmatch(name) is not None


def consumer_group(destination: str) -> str:
    """The consumer group a destination reads a queue's stream with (one per destination)."""
    if destination == DEFAULT_DESTINATION:
        return CONSUMER_GROUP
    return f"{CONSUMER_GROUP}:{destination}"


def destination_of_group(group: str) -> str:
    """The destination a consumer group belongs to (the inverse of ``consumer_group``)."""
    if group == CONSUMER_GROUP:
        return DEFAULT_DESTINATION
    return group.removeprefix(f"{CONSUMER_GROUP}:")


def stream_key(queue: str) -> str:
    return f"{PREFIX}:{{{queue}}}:events"


STREAM_PATTERN = stream_key("*")  # SCAN MATCH for every queue's stream (cluster discovery)


def queue_of_stream(key: str) -> str:
    """The queue a stream key belongs to (the inverse of ``stream_key``)."""
    return key[len(PREFIX) + 2 : -len("}:events")]


def destination_suffix(destination: str) -> str:
    """The suffix of a destination's own keys and stats fields: none for the default one, whose
    keys keep the names they had before destinations."""
    return "" if destination == DEFAULT_DESTINATION else f":{destination}"


def dead_letter_key(queue: str, destination: str = DEFAULT_DESTINATION) -> str:
    """The events ``destination`` refused for good (each destination has its own)."""
    return f"{PREFIX}:{{{queue}}}:dead{destination_suffix(destination)}"


def stat_field(stat: str, destination: str = DEFAULT_DESTINATION) -> str:
    """A destination's own counter in the queue's stats hash (``persisted:lake``); ``accepted``
    is the queue's, shared by its destinations."""
    return f"{stat}{destination_suffix(destination)}"


def stats_key(queue: str) -> str:
    return f"{PREFIX}:{{{queue}}}:stats"


def done_key(queue: str) -> str:
    """Per consumer group, the events it is done with (``lua/lib/counts.lua``)."""
    return f"{PREFIX}:{{{queue}}}:done"


def counted_keys(queue: str) -> list[str]:
    """The stream, the stats hash and the done counts: the first KEYS of the scripts that read
    or keep the queue's counts (``lua/lib/counts.lua``)."""
    return [stream_key(queue), stats_key(queue), done_key(queue)]


def dead_letter_move_keys(queue: str, destination: str) -> list[str]:
    """The KEYS of the scripts that move events between the stream and a destination's dead
    letters (``lua/dead_letter.lua``, ``lua/replay_dead_letter.lua``)."""
    dead = dead_letter_key(queue, destination)
    return [stream_key(queue), dead, stats_key(queue), done_key(queue)]


def lock_key(queue: str, slot: int = 0, destination: str = DEFAULT_DESTINATION) -> str:
    """Lock slot ``slot`` of ``queue`` for ``destination`` (QUEUE_CONSUMERS slots each: one
    consumer holds each)."""
    return f"{PREFIX}:{{{queue}}}:worker{destination_suffix(destination)}:{slot}"


def lock_keys(queue: str, slots: int, destination: str = DEFAULT_DESTINATION) -> list[str]:
    return [lock_key(queue, slot, destination) for slot in range(slots)]


def rate_key(token: str) -> str:
    """A token's rate-limit state (GCRA, ``queue/rate.py``): tagged by the token's name, which
    ``{token:…}`` keeps apart from every queue's tag."""
    return f"{PREFIX}:{{token:{token}}}:rate"


def crash_key(queue: str, destination: str = DEFAULT_DESTINATION) -> str:
    """The last crash of its consumers for ``destination`` and when to try again
    (queue/crash_record.py)."""
    return f"{PREFIX}:{{{queue}}}:crash{destination_suffix(destination)}"
