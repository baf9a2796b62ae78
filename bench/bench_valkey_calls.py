"""Valkey's CPU per event for other shapes of the same calls: what merging or replacing them saves.

Against a private Valkey (AOF, ``appendfsync always``), this process plays the API and then a
consumer, one variant at a time, and reads Valkey's own CPU (``/proc``) and ``INFO
commandstats`` around each phase. Variants (the first of each is what sluicegate does today):

enqueue, one request of ``--batch`` events followed by ``WAITAOF 1 0``:
  script   EVALSHA of sluicegate's enqueue.lua (depth check, XADD each, HINCRBY)
  multi    MULTI, XADD each, HINCRBY, EXEC: the same writes without Lua (no depth check inside)
  xadd     the XADDs and the HINCRBY pipelined without MULTI: a floor, not atomic
  packed   one XADD for the whole request (its events framed in one field), HINCRBY, in one
           MULTI: a proposal (docs/performance.md, "One entry per request"), not what runs

consume, XREADGROUP of ``--read`` entries (the next read sent before the ack, as a consumer
does), then:
  script   EVALSHA of sluicegate's ack.lua (XACK, XINFO GROUPS, XPENDING, then XTRIM MINID
           below the oldest entry still pending or not yet delivered; two HINCRBY)
  xdel     the ack before issue 21: XACK, XINFO GROUPS, XDEL of every id, two HINCRBY
  ack      XACK and two HINCRBY only: a floor (the entries stay: memory grows)
  packed   the entries of ``packed``: XREADGROUP of ``--read`` / ``--batch`` entries, each split
           into its events here, then ack.lua (as ``script``)

Variants alternate from round to round on fresh streams; the figure is the median. Nothing here
changes sluicegate: it measures proposals (and what was replaced).

Usage: python -m bench.bench_valkey_calls [--events 50000] [--batch 100] [--read 500]
       [--payload 200] [--rounds 3]
"""

import argparse
import statistics
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, cast

import orjson
import redis

from bench.bench_e2e import payload
from bench.procstat import cpu_s
from sluicegate.embedded.server import EmbeddedServer
from sluicegate.events import new_event_ids, now_ms
from sluicegate.queue import keys
from sluicegate.queue.scripts import ACK, ENQUEUE, lua

QUEUE = "calls"
STREAM, STATS, DONE = keys.counted_keys(QUEUE)
GROUP = keys.CONSUMER_GROUP
# The ack before XTRIM took over (ack.lua until issue 21): XACK, XDEL of every id. Both scripts
# here take ack.lua's ARGV: group, inserted, duplicates, stats suffix, ids…
_XDEL = """
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 6))
redis.call('XINFO', 'GROUPS', KEYS[1])
redis.call('XDEL', KEYS[1], unpack(ARGV, 6))
redis.call('HINCRBY', KEYS[2], 'persisted', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'duplicates_suppressed', ARGV[3])
return 1
"""
_ACK_ONLY = """
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 6))
redis.call('HINCRBY', KEYS[2], 'persisted', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'duplicates_suppressed', ARGV[3])
return 1
"""

Phase = Callable[[redis.Redis, argparse.Namespace], None]


@cache
def _payload_text(size: int) -> str:
    return orjson.dumps(payload(0, size)).decode()


def _request_fields(batch: int, size: int) -> list[tuple[str, str, int]]:
    text, accepted_ms = _payload_text(size), now_ms()
    return [(event_id, text, accepted_ms) for event_id in new_event_ids(batch)]


def _wait_aof(client: redis.Redis) -> None:
    """WAITAOF 1 0 0, sent now or queued on a pipeline: redis-py has no method for it, and its
    ``execute_command`` has no annotations."""
    client.execute_command("WAITAOF", 1, 0, 0)  # type: ignore[no-untyped-call]


def enqueue_script(client: redis.Redis, args: argparse.Namespace) -> None:
    sha = client.script_load(lua(ENQUEUE).source)
    for _ in range(args.events // args.batch):
        flat = [value for fields in _request_fields(args.batch, args.payload) for value in fields]
        pipe = client.pipeline(transaction=False)
        pipe.evalsha(sha, 5, STREAM, STATS, keys.dead_letter_key(QUEUE), DONE, keys.QUEUES_SET,
                     10**9, GROUP, QUEUE, "", 0, 0, *flat)  # fmt: skip
        _wait_aof(pipe)
        pipe.execute()


def _enqueue_commands(transaction: bool) -> Phase:
    def phase(client: redis.Redis, args: argparse.Namespace) -> None:
        for _ in range(args.events // args.batch):
            pipe = client.pipeline(transaction=transaction)
            for event_id, text, accepted in _request_fields(args.batch, args.payload):
                pipe.xadd(STREAM, {"id": event_id, "payload": text, "accepted_at_ms": accepted})
            pipe.hincrby(STATS, "accepted", args.batch)
            pipe.execute()
            _wait_aof(client)

    return phase


def _packed(events: list[tuple[str, str, int]]) -> str:
    """A request's events in one field: per event a line with its id, accepted-at and payload
    length, then the payload (what a consumer would split without parsing any JSON)."""
    parts = [f"{len(events)}\n"]
    for event_id, text, accepted in events:
        parts.append(f"{event_id} {accepted} {len(text)}\n{text}")
    return "".join(parts)


def _unpacked(blob: str) -> list[tuple[str, str, int]]:
    count_line, _, rest = blob.partition("\n")
    events, at = [], 0
    for _ in range(int(count_line)):
        end = rest.index("\n", at)
        event_id, accepted, size = rest[at:end].split(" ")
        at = end + 1 + int(size)
        events.append((event_id, rest[end + 1 : at], int(accepted)))
    return events


def enqueue_packed(client: redis.Redis, args: argparse.Namespace) -> None:
    for _ in range(args.events // args.batch):
        pipe = client.pipeline(transaction=True)
        pipe.xadd(STREAM, {"events": _packed(_request_fields(args.batch, args.payload))})
        pipe.hincrby(STATS, "accepted", args.batch)
        pipe.execute()
        _wait_aof(client)


def _read(client: redis.Redis, count: int) -> list[tuple[str, dict[str, str]]]:
    """The next ``count`` entries for consumer ``c``, [] once drained. redis-py types the
    reply of every protocol at once; with RESP2 and decode_responses (``measured``'s client) it
    is [[stream, [(id, fields), …]]], or [] when there is nothing new to read."""
    reply = cast("list[list[Any]]", client.xreadgroup(GROUP, "c", {STREAM: ">"}, count=count))
    entries: list[tuple[str, dict[str, str]]] = reply[0][1] if reply else []
    return entries


def _consume(script: str, packed: bool = False) -> Phase:
    """Read ahead, then acknowledge each batch with ``script``, until the stream is drained.
    ``packed``: entries of ``enqueue_packed``, ``--batch`` events each, split here."""

    def phase(client: redis.Redis, args: argparse.Namespace) -> None:
        sha = client.script_load(script)
        count = max(1, args.read // args.batch) if packed else args.read
        entries = _read(client, count)
        while entries:
            if packed:
                events = [e for _, fields in entries for e in _unpacked(fields["events"])]
                assert len(events) == args.batch * len(entries)
            ids = [entry_id for entry_id, _ in entries]
            following = _read(client, count)
            client.evalsha(sha, 3, STREAM, STATS, DONE, GROUP, len(ids), 0, "", 0, *ids)
            entries = following

    return phase


ENQUEUES: dict[str, Phase] = {
    "script": enqueue_script,
    "multi": _enqueue_commands(transaction=True),
    "xadd": _enqueue_commands(transaction=False),
    "packed": enqueue_packed,
}
CONSUMES: dict[str, Phase] = {
    "script": _consume(lua(ACK).source),
    "xdel": _consume(_XDEL),
    "ack": _consume(_ACK_ONLY),
    "packed": _consume(lua(ACK).source, packed=True),
}


def measured(server: EmbeddedServer, phase: Phase, args: argparse.Namespace) -> dict[str, float]:
    """Valkey's CPU µs per event over ``phase``, and its commands' usec and calls per event."""
    assert server.process is not None
    client = redis.Redis.from_url(server.url, decode_responses=True)
    stats = client.info("commandstats")
    before = cpu_s(server.process.pid)
    phase(client, args)
    figures = {"cpu": (cpu_s(server.process.pid) - before) * 1e6 / args.events}
    for name, now in client.info("commandstats").items():
        then = stats.get(name, {"calls": 0, "usec": 0})
        command = name.removeprefix("cmdstat_")
        figures[f"{command} usec"] = (now["usec"] - then["usec"]) / args.events
        figures[f"{command} calls"] = (now["calls"] - then["calls"]) / args.events
    client.close()
    return figures


def fresh(server: EmbeddedServer) -> None:
    client = redis.Redis.from_url(server.url)
    client.delete(STREAM, STATS)
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    client.close()


def run(args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Every variant ``--rounds`` times, their order turned each round; each consume variant
    drains what an enqueue left (enqueue variants by turn)."""
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedServer(Path(folder) / "redis").start()
        try:
            for round_number in range(args.rounds):
                pairs = list(zip(ENQUEUES.items(), CONSUMES.items(), strict=True))
                shift = round_number % len(pairs)
                for (enqueue, put), (consume, take) in pairs[shift:] + pairs[:shift]:
                    fresh(server)
                    results.setdefault(f"enqueue {enqueue}", []).append(measured(server, put, args))
                    results.setdefault(f"consume {consume}", []).append(
                        measured(server, take, args)
                    )
        finally:
            server.kill()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--read", type=int, default=500, help="entries per XREADGROUP")
    parser.add_argument("--payload", type=int, default=200, help="bytes")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = run(args)
    print(
        f"Valkey per event: {args.events:,} events, requests of {args.batch}, reads of "
        f"{args.read}, {args.payload} B payloads; median of {args.rounds} rounds"
    )
    for variant, runs in results.items():
        cpu = statistics.median(run["cpu"] for run in runs)
        usec = {
            name.removesuffix(" usec"): statistics.median(run.get(name, 0.0) for run in runs)
            for name in runs[0]
            if name.endswith(" usec")
        }
        calls = sum(
            statistics.median(run[n] for run in runs) for n in runs[0] if n.endswith(" calls")
        )
        top = sorted(usec.items(), key=lambda item: -item[1])[:5]
        listed = ", ".join(f"{name} {value:.2f}" for name, value in top if value >= 0.01)
        print(f"{variant:<16} CPU {cpu:6.2f} µs  {calls:5.2f} calls  usec: {listed}")


if __name__ == "__main__":
    main()
