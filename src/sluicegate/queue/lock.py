"""Consumer locks: ``QUEUE_CONSUMERS`` slots per queue, each held by at most one consumer.

A slot's value is a JSON document (token, host, pid, queue, slot, agent, started-at). Acquiring
tries every slot of the queue in one script (all of a queue's keys share its ``{queue}`` hash tag,
so one Redis Cluster slot). Heartbeat and release compare the whole value first, in Lua, so a
process can never extend or delete a lock it lost.
"""

import json
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import redis

from sluicegate.errors import LockLostError
from sluicegate.events import now_ms
from sluicegate.logs import get_logger
from sluicegate.process.liveness import is_gone, process_name
from sluicegate.queue import keys
from sluicegate.queue.lanes import Lane
from sluicegate.queue.scripts import LOCK_ACQUIRE, LOCK_HEARTBEAT, LOCK_RELEASE, lua


@dataclass(frozen=True, slots=True)
class LockEntry:
    token: str
    queue: str
    host: str
    pid: int
    started_at_ms: int
    process: str = ""  # liveness.process_name: lets a consumer tell a dead holder for certain
    slot: int = 0
    agent: str = ""  # the agent's process_name: agents count the slots others hold
    destination: str = keys.DEFAULT_DESTINATION  # the queue's destination it serves

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, raw: bytes | str) -> "LockEntry":
        return cls(**json.loads(raw))

    @property
    def key(self) -> str:
        return keys.lock_key(self.queue, self.slot, self.destination)

    @property
    def lane(self) -> Lane:
        return Lane(self.queue, self.destination)


def new_lock_entry(
    queue: str,
    pid: int | None = None,
    agent: str = "",
    destination: str = keys.DEFAULT_DESTINATION,
) -> LockEntry:
    return LockEntry(
        token=uuid.uuid4().hex,
        queue=queue,
        host=socket.gethostname(),
        pid=pid if pid is not None else os.getpid(),
        started_at_ms=now_ms(),
        process=process_name(pid),
        agent=agent,
        destination=destination,
    )


class Lock:
    def __init__(self, client: "redis.Redis", entry: LockEntry, ttl_s: float) -> None:
        self._client = client
        self.entry = entry
        self._value = entry.encode()
        self._ttl_ms = int(ttl_s * 1000)
        self._heartbeat = client.register_script(lua(LOCK_HEARTBEAT).source)
        self._release = client.register_script(lua(LOCK_RELEASE).source)

    def acquire(self) -> bool:
        """Take exactly this entry's slot (tests; consumers use ``acquire_slot``)."""
        return bool(self._client.set(self.entry.key, self._value, nx=True, px=self._ttl_ms))

    def heartbeat(self) -> None:
        if not self._heartbeat(keys=[self.entry.key], args=[self._value, self._ttl_ms]):
            raise LockLostError(f"worker lock of queue {self.entry.queue!r} expired or was taken")

    def release(self) -> bool:
        """Delete the lock if it is still ours; True when it was."""
        return bool(self._release(keys=[self.entry.key], args=[self._value]))


def acquire_slot(client: "redis.Redis", entry: LockEntry, slots: int, ttl_s: float) -> Lock | None:
    """The first free slot of ``entry.queue``; a slot whose holder certainly died on this host
    (SIGKILL, OOM) is freed at once instead of after its TTL. None when all are held, or when
    the queue's stream is empty (nothing queued or pending: no visit needed)."""
    for _ in range(2):
        lock, holders = _try_slots(client, entry, slots, ttl_s)
        if lock is not None or not _released_dead_holders(client, entry.queue, holders):
            return lock
    return None


def _try_slots(
    client: "redis.Redis", entry: LockEntry, slots: int, ttl_s: float
) -> tuple[Lock | None, list[LockEntry]]:
    """One round trip: the lock, or (when every slot is held) who holds them."""
    values = [replace(entry, slot=slot).encode() for slot in range(slots)]
    script = client.register_script(lua(LOCK_ACQUIRE).source)
    slot_keys = keys.lock_keys(entry.queue, slots, entry.destination)
    stream_and_slots = [keys.stream_key(entry.queue), *slot_keys]
    reply = script(keys=stream_and_slots, args=[int(ttl_s * 1000), *values])
    if isinstance(reply, list):  # every slot held
        return None, [LockEntry.decode(raw) for raw in reply[1:] if raw]
    slot = int(reply)
    return (Lock(client, replace(entry, slot=slot), ttl_s) if slot >= 0 else None), []


def _released_dead_holders(client: "redis.Redis", queue: str, holders: list[LockEntry]) -> bool:
    released = False
    for holder in holders:
        if holder.process and is_gone(holder.process) and release_lock(client, holder):
            get_logger(pid=os.getpid()).warning(
                "stale-lock-released", queue=queue, holder=holder.process
            )
            released = True
    return released


def lock_holder(
    client: "redis.Redis", queue: str, slot: int = 0, destination: str = keys.DEFAULT_DESTINATION
) -> LockEntry | None:
    raw = client.get(keys.lock_key(queue, slot, destination))
    return LockEntry.decode(raw) if raw else None


def lock_holders_of(
    client: "redis.Redis", queue: str, slots: int, destination: str = keys.DEFAULT_DESTINATION
) -> list[LockEntry]:
    """Who holds the slots of ``queue`` for ``destination`` now (one MGET: the slots share the
    queue's hash tag)."""
    slot_keys = keys.lock_keys(queue, slots, destination)
    raws: list[bytes | None] = client.mget(slot_keys)  # type: ignore[assignment]
    return [LockEntry.decode(raw) for raw in raws if raw]


def release_lock(client: "redis.Redis", entry: LockEntry) -> bool:
    """Release a lock for a process that can no longer do it (a dead or killed consumer)."""
    return Lock(client, entry, ttl_s=1).release()


def release_any_slot(client: "redis.Redis", entry: LockEntry, slots: int) -> bool:
    """Release ``entry`` in whichever slot it took (the caller knows the entry, not the slot)."""
    return any([release_lock(client, replace(entry, slot=slot)) for slot in range(slots)])


def release_all(client: "redis.Redis", entries: list[LockEntry], slots: int) -> list[bool]:
    """Release each of ``entries`` in whichever slot it took, all in one round trip (EVAL, not
    EVALSHA: a script not yet loaded would cost another round trip); one answer per entry."""
    source = lua(LOCK_RELEASE).source
    with client.pipeline(transaction=False) as pipe:
        for entry in entries:
            for slot in range(slots):
                held = replace(entry, slot=slot)
                pipe.eval(source, 1, held.key, held.encode())
        replies = pipe.execute()
    return [any(replies[i : i + slots]) for i in range(0, len(replies), slots)]


def lock_holders(
    client: "redis.Redis", queues: list[str], slots: int = 1
) -> list[tuple[LockEntry, int]]:
    """Every live lock of ``queues`` (``slots`` slots each) with its time to live left in ms."""
    with client.pipeline(transaction=False) as pipe:
        for key in (key for queue in queues for key in keys.lock_keys(queue, slots)):
            pipe.get(key)
            pipe.pttl(key)
        replies = pipe.execute()
    pairs = zip(replies[::2], replies[1::2], strict=True)
    return [(LockEntry.decode(raw), int(ttl_ms)) for raw, ttl_ms in pairs if raw]


def held_slots(client: "redis.Redis", queues: list[str], slots: int) -> dict[str, list[LockEntry]]:
    """The holders of every slot of each of ``queues`` (their default destination's), in one
    round trip."""
    held = held_lane_slots(client, [Lane(queue) for queue in queues], slots)
    return {lane.queue: holders for lane, holders in held.items()}


def held_lane_slots(
    client: "redis.Redis", lanes: Sequence[Lane], slots: int
) -> dict[Lane, list[LockEntry]]:
    """The holders of every slot of each of ``lanes``, in one round trip."""
    with client.pipeline(transaction=False) as pipe:
        for lane in lanes:
            # MGET raw: redis-py's cluster pipeline refuses .mget(), though one queue's lock
            # keys share its slot (the {queue} hash tag)
            slot_keys = keys.lock_keys(lane.queue, slots, lane.destination)
            pipe.execute_command("MGET", *slot_keys)  # type: ignore[no-untyped-call]
        replies = pipe.execute()
    return {
        lane: [LockEntry.decode(raw) for raw in raws if raw]
        for lane, raws in zip(lanes, replies, strict=True)
    }
