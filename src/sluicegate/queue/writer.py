"""The API's side of a queue: append a batch atomically, then wait until it is durable.

A Lua script (``lua/enqueue.lua``) appends the whole batch (all-or-nothing), creates the stream
and its consumer group on first use and refuses a queue that is already at its depth limit.
``WAITAOF`` then runs on the same connection, so it waits for these writes to reach the
append-only file (and, with ``DURABILITY_REPLICAS=N``, the append-only files of N replicas). On a
standalone server, concurrent enqueues share one write and one ``WAITAOF`` (``grouped``); on a
cluster the script and its ``WAITAOF`` go to the node owning the queue's slot, on one connection
(``slot_pipeline``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import redis.asyncio
import redis.asyncio.cluster
from redis.exceptions import NoScriptError, ResponseError

from sluicegate.errors import ConfigurationError, DurabilityError
from sluicegate.events import Event
from sluicegate.queue import keys
from sluicegate.queue.client import is_cluster_client
from sluicegate.queue.direct import DirectConnections
from sluicegate.queue.entry_format import joined_columns, packable
from sluicegate.queue.grouped import GroupedWrites
from sluicegate.queue.scripts import ENQUEUE, lua
from sluicegate.queue.slot_pipeline import send_to_slot_owner

_ENQUEUE = lua(ENQUEUE)


class DurabilityMode(Enum):
    """What a 202 promises; README "Durability" explains each one."""

    WAITAOF = "waitaof"  # fsynced to the AOF, confirmed by WAITAOF
    FSYNC_ALWAYS = "fsync-always"  # server fsyncs before it replies (appendfsync always)
    MEMORY = "memory"  # in the server's memory only: a server crash can lose it


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    accepted: bool
    depth: int


class QueueWriter:
    def __init__(
        self,
        client: "redis.asyncio.Redis",
        mode: DurabilityMode,
        max_depth: int,
        durability_timeout_s: float,
        replicas: int = 0,
        packing: bool = True,
    ) -> None:
        """``packing``: a request's events in one stream entry (``queue/entry_format.py``)."""
        self._client = client
        self.packing = packing
        self._cluster = is_cluster_client(client)
        self.replicas = replicas
        self.mode = mode
        self._max_depth = max_depth
        self._timeout_ms = int(durability_timeout_s * 1000)
        self._waitaof: tuple[str | int, ...] | None = None
        if mode is DurabilityMode.WAITAOF:
            self._waitaof = ("WAITAOF", 1, replicas, self._timeout_ms)
        self._grouped = None
        if not self._cluster:
            self._grouped = GroupedWrites(DirectConnections(client), self._waitaof)

    async def enqueue(
        self,
        queue: str,
        events: Sequence[Event],
        traceparent: str | None = None,
        quarantined: Sequence[tuple[Event, str]] = (),
    ) -> EnqueueResult:
        """Append ``events`` to ``queue``, and ``quarantined`` (each with its reason) to its dead
        letters, in one step; return once they are as durable as ``mode`` says.
        ``traceparent``: the request's trace context, stored with each event."""
        args: list[str | int] = [self._max_depth, keys.CONSUMER_GROUP, queue, traceparent or ""]
        args.append(len(quarantined))
        if self.packing and packable(events):
            args += [len(events), *joined_columns(events), events[0].accepted_at_ms]
        else:
            args.append(0)
            args += [
                value
                for event in events
                for value in (event.event_id, event.payload, event.accepted_at_ms)
            ]
        for event, reason in quarantined:
            args += [
                event.event_id,
                event.payload,
                event.accepted_at_ms,
                reason[: keys.REASON_MAX_CHARS],
            ]
        command = ("EVALSHA", _ENQUEUE.sha, *self._keys(queue), *args)
        try:
            reply, waitaof = await self._send(queue, command)
        except NoScriptError:  # a restarted server forgot the script; nothing was written
            await self._client.script_load(_ENQUEUE.source)
            reply, waitaof = await self._send(queue, command)
        accepted, depth = int(reply[0]), int(reply[1])
        if accepted and waitaof is not None:
            self._check_confirmed(waitaof)
        return EnqueueResult(accepted=bool(accepted), depth=depth)

    def _check_confirmed(self, waitaof: list[int]) -> None:
        local, replicas = int(waitaof[0]), int(waitaof[1])
        if local < 1 or replicas < self.replicas:
            raise DurabilityError(
                f"WAITAOF timed out after {self._timeout_ms} ms: fsynced locally {local}, "
                f"by {replicas} of the {self.replicas} replicas asked for"
            )

    async def _send(self, queue: str, command: tuple[Any, ...]) -> tuple[Any, Any]:
        """The script's reply and WAITAOF's (None without it), WAITAOF sent after the script on
        the same connection (it waits for its own connection's writes)."""
        if self._grouped is not None:
            return await self._grouped.send(command)
        commands = [command] if self._waitaof is None else [command, self._waitaof]
        replies = await send_to_slot_owner(self._client, keys.stream_key(queue), commands)
        return replies[0], replies[1] if self._waitaof is not None else None

    async def aclose(self) -> None:
        """Close the writer's own connections (the client's pool is the client's to close)."""
        if self._grouped is not None:
            await self._grouped.aclose()

    def _keys(self, queue: str) -> list[str | int]:
        """The queue's stream, stats, dead letters and done counts; on a standalone server also
        the set of queues (another slot)."""
        own = [keys.stream_key(queue), keys.stats_key(queue), keys.dead_letter_key(queue)]
        own.append(keys.done_key(queue))
        if self._cluster:
            return [len(own), *own]
        return [len(own) + 1, *own, keys.QUEUES_SET]


async def detect_durability(
    client: "redis.asyncio.Redis", wanted: str, replicas: int = 0
) -> DurabilityMode:
    """Choose the strongest mode the server offers; refuse to start if ``aof`` is impossible, or
    if ``replicas`` replicas are asked for and some primary has fewer (or no WAITAOF)."""
    if wanted == "none":
        return DurabilityMode.MEMORY
    mode = await _strongest_mode(client, wanted)
    if replicas:
        await _check_replicas(client, mode, replicas)
    return mode


async def _check_replicas(client: "redis.asyncio.Redis", mode: DurabilityMode, wanted: int) -> None:
    if mode is not DurabilityMode.WAITAOF:
        raise ConfigurationError(
            f"DURABILITY_REPLICAS={wanted} needs WAITAOF (Redis 7.2+ / Valkey with appendonly "
            f"yes); this server's durability is {mode.value}"
        )
    fewest = await _fewest_replicas(client)
    if fewest < wanted:
        raise ConfigurationError(
            f"DURABILITY_REPLICAS={wanted}, but a primary has {fewest} connected replica(s): "
            "every 202 would time out"
        )


async def _fewest_replicas(client: "redis.asyncio.Redis") -> int:
    """Connected replicas of the primary (of every primary, on a cluster), the fewest."""
    if not is_cluster_client(client):
        return int((await client.info("replication"))["connected_slaves"])
    primaries = redis.asyncio.cluster.RedisCluster.PRIMARIES
    infos = await client.info("replication", target_nodes=primaries)
    return min(int(info["connected_slaves"]) for info in infos.values())


async def _strongest_mode(client: "redis.asyncio.Redis", wanted: str) -> DurabilityMode:
    info = await client.info("persistence")
    aof_on = bool(int(info.get("aof_enabled", 0)))
    fsync = await _appendfsync(client)
    # With appendfsync no, WAITAOF would wait for an fsync that only the kernel decides on.
    if aof_on and fsync != "no" and await _supports_waitaof(client):
        return DurabilityMode.WAITAOF
    if aof_on and fsync == "always":
        return DurabilityMode.FSYNC_ALWAYS
    if wanted == "aof":
        raise ConfigurationError(
            "DURABILITY=aof needs a Redis with appendonly yes and WAITAOF (7.2+) "
            "or appendfsync always; this server offers neither"
        )
    return DurabilityMode.MEMORY


async def _supports_waitaof(client: "redis.asyncio.Redis") -> bool:
    try:
        await client.execute_command("WAITAOF", 0, 0, 1)  # type: ignore[no-untyped-call]
    except ResponseError:
        return False
    return True


async def _appendfsync(client: "redis.asyncio.Redis") -> str | None:
    """The server's appendfsync policy, or None where CONFIG is disabled (managed servers)."""
    try:
        config = await client.config_get("appendfsync")
    except ResponseError:
        return None
    return str(config.get("appendfsync", "")) or None
