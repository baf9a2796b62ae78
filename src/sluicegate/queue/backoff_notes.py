"""Where an agent tells everyone that the database is refusing its connections.

The agent-wide backoff itself lives in shared memory (``worker/board.py``); this hash in Redis only
makes it visible to ``sluicegate status``, on any host: one field per agent, a JSON value with the
moment the backoff ends. Expired fields are ignored by readers and overwritten by writers.
"""

from dataclasses import dataclass

import orjson
import redis

from sluicegate.events import now_ms
from sluicegate.queue import keys


@dataclass(frozen=True, slots=True)
class BackoffNote:
    agent: str
    refusals: int  # connections refused in a row
    until_ms: int  # epoch ms when its consumers try again
    error: str


def note_backoff(client: "redis.Redis", note: BackoffNote) -> None:
    value = orjson.dumps(
        {"refusals": note.refusals, "until_ms": note.until_ms, "error": note.error[:300]}
    )
    client.hset(keys.DATABASE_BACKOFF, note.agent, value)


def current_backoffs(client: "redis.Redis") -> list[BackoffNote]:
    """Agents backing off from the database now (ended notes are left out and cleaned up)."""
    raw: dict[bytes, bytes] = client.hgetall(keys.DATABASE_BACKOFF)  # type: ignore[assignment]
    notes: list[BackoffNote] = []
    ended: list[BackoffNote] = []
    for agent, value in raw.items():
        fields = orjson.loads(value)
        note = BackoffNote(agent.decode(), fields["refusals"], fields["until_ms"], fields["error"])
        (notes if note.until_ms > now_ms() else ended).append(note)
    if ended:
        client.hdel(keys.DATABASE_BACKOFF, *(note.agent for note in ended))
    return notes
