"""Consumer locks: one per queue, held by at most one consumer, kept alive by heartbeats.

The lock's value is a JSON document (token, host, pid, queue, started-at). Heartbeat and release
compare the whole value first, in Lua, so a process can never extend or delete a lock it lost.
"""

import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass

import redis

from sluicegate.errors import LockLostError
from sluicegate.events import now_ms
from sluicegate.queue import keys
from sluicegate.queue.scripts import LOCK_HEARTBEAT, LOCK_RELEASE, lua
from sluicegate.worker.liveness import process_name


@dataclass(frozen=True, slots=True)
class LockEntry:
    token: str
    queue: str
    host: str
    pid: int
    started_at_ms: int
    process: str = ""  # liveness.process_name: lets the agent tell a dead holder for certain

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, raw: bytes | str) -> "LockEntry":
        return cls(**json.loads(raw))


def new_lock_entry(queue: str, pid: int | None = None) -> LockEntry:
    return LockEntry(
        token=uuid.uuid4().hex,
        queue=queue,
        host=socket.gethostname(),
        pid=pid if pid is not None else os.getpid(),
        started_at_ms=now_ms(),
        process=process_name(pid),
    )


class Lock:
    def __init__(self, client: "redis.Redis", entry: LockEntry, ttl_s: float) -> None:
        self._client = client
        self.entry = entry
        self._value = entry.encode()
        self._key = keys.lock_key(entry.queue)
        self._ttl_ms = int(ttl_s * 1000)
        self._heartbeat = client.register_script(lua(LOCK_HEARTBEAT).source)
        self._release = client.register_script(lua(LOCK_RELEASE).source)

    def acquire(self) -> bool:
        return bool(self._client.set(self._key, self._value, nx=True, px=self._ttl_ms))

    def heartbeat(self) -> None:
        if not self._heartbeat(keys=[self._key], args=[self._value, self._ttl_ms]):
            raise LockLostError(f"worker lock of queue {self.entry.queue!r} expired or was taken")

    def release(self) -> bool:
        """Delete the lock if it is still ours; True when it was."""
        return bool(self._release(keys=[self._key], args=[self._value]))


def lock_holder(client: "redis.Redis", queue: str) -> LockEntry | None:
    raw = client.get(keys.lock_key(queue))
    return LockEntry.decode(raw) if raw else None


def release_lock(client: "redis.Redis", entry: LockEntry) -> bool:
    """Release a lock for a process that can no longer do it (the agent, for a killed consumer)."""
    return Lock(client, entry, ttl_s=1).release()


def locked_queues(client: "redis.Redis", queues: list[str]) -> set[str]:
    """Which of ``queues`` have a lock now (held by a live consumer, or not yet expired)."""
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.exists(keys.lock_key(queue))
        replies = pipe.execute()
    return {queue for queue, locked in zip(queues, replies, strict=True) if locked}


def lock_holders(client: "redis.Redis", queues: list[str]) -> list[tuple[LockEntry, int]]:
    """Every live lock with its remaining time to live in ms."""
    found = []
    for queue in queues:
        key = keys.lock_key(queue)
        raw, ttl_ms = client.get(key), client.pttl(key)
        if raw:
            found.append((LockEntry.decode(raw), int(ttl_ms)))
    return found
