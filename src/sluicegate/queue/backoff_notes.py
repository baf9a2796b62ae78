"""Where an agent tells everyone that a destination's database is refusing its connections.

The backoff itself lives in shared memory (``worker/board.py``), one per destination; this hash
in Redis only makes it visible to ``sluicegate status``, on any host: one field per agent and
destination (``agent destination``: a destination's name has no space), a JSON value with the
destination and the moment the backoff ends. Expired fields are ignored by readers and deleted.
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
    destination: str = keys.DEFAULT_DESTINATION  # whose store refuses

    @property
    def field(self) -> str:
        return f"{self.agent} {self.destination}"


def note_backoff(client: "redis.Redis", note: BackoffNote) -> None:
    value = orjson.dumps(
        {
            "refusals": note.refusals,
            "until_ms": note.until_ms,
            "error": note.error[:300],
            "destination": note.destination,
            "agent": note.agent,
        }
    )
    client.hset(keys.DATABASE_BACKOFF, note.field, value)


def current_backoffs(client: "redis.Redis") -> list[BackoffNote]:
    """Agents backing off from a destination now (ended notes are left out and cleaned up)."""
    raw: dict[bytes, bytes] = client.hgetall(keys.DATABASE_BACKOFF)  # type: ignore[assignment]
    notes: list[BackoffNote] = []
    ended: list[bytes] = []
    for field, value in raw.items():
        fields = orjson.loads(value)
        note = BackoffNote(
            fields.get("agent", field.decode()),  # a note of before destinations: field = agent
            fields["refusals"],
            fields["until_ms"],
            fields["error"],
            fields.get("destination", keys.DEFAULT_DESTINATION),
        )
        if note.until_ms > now_ms():
            notes.append(note)
        else:
            ended.append(field)
    if ended:
        client.hdel(keys.DATABASE_BACKOFF, *ended)
    return sorted(notes, key=lambda note: (note.destination, note.agent))
