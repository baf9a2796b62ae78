"""What the ack costs per event now that a stream may be read by several destinations.

Same run, same private Valkey, variants interleaved round by round:

- ``before``: the ack as it was before destinations (XACK + XDEL of the batch's ids), kept here
  verbatim as the baseline;
- ``1 destination``: today's ack with one consumer group (XACK, XINFO GROUPS, then XTRIM MINID
  below its oldest pending entry; XDEL only of entries acknowledged after one still pending);
- ``2 destinations``: today's ack with two groups, each acking every batch (XACK, then XTRIM
  MINID below the oldest entry some group still needs: ``lua/lib/trim.lua``); per event it is
  the sum of both groups' acks, since each event is acknowledged twice.

Each variant fills a fresh stream with ``--events`` entries of about 200 bytes, reads it in
batches of 500 with XREADGROUP and acknowledges each batch with the script. Two figures per
event: the server's CPU in the script (``INFO commandstats``: ``evalsha``'s usec, the AOF's
fsync not included, as its write comes after the script) and the wall time of the ack calls
from here (the round trip, and with ``appendfsync always`` the fsync, included). The memory the
stream holds at the end says the trimming reclaimed it. Last, what one destination's ack adds
to the one before, alone: an XINFO GROUPS, timed as 20,000 calls in one script against as many
EXISTS (the best of five), over a batch's 500 events.

Usage: python -m bench.bench_trim [--events 20000] [--rounds 5]
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from sluicegate.embedded.server import EmbeddedServer
from sluicegate.queue import keys
from sluicegate.queue.lanes import ensure_groups
from sluicegate.queue.reader import QueueReader

BATCH = 500
BEFORE = """
for first = 4, #ARGV, 1000 do
  local last = math.min(first + 999, #ARGV)
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, first, last))
  redis.call('XDEL', KEYS[1], unpack(ARGV, first, last))
end
redis.call('HINCRBY', KEYS[2], 'persisted', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'duplicates_suppressed', ARGV[3])
return 1
"""
VARIANTS = ("before", "1 destination", "2 destinations")


def fill(client: "redis.Redis", queue: str, events: int) -> None:
    payload = "x" * 180
    with client.pipeline(transaction=False) as pipe:
        for n in range(events):
            pipe.xadd(
                keys.stream_key(queue),
                {
                    keys.FIELD_EVENT_ID: f"e{n}",
                    keys.FIELD_PAYLOAD: payload,
                    keys.FIELD_ACCEPTED_AT: 0,
                },
            )
        pipe.execute()


def script_usec(client: "redis.Redis") -> float:
    stats: dict[str, dict[str, float]] = client.info("commandstats")
    return float(stats.get("cmdstat_evalsha", {}).get("usec", 0))


def run(client: "redis.Redis", variant: str, queue: str, events: int) -> tuple[float, float, int]:
    """(server µs per event in the script, wall µs per event of the acks, bytes left)."""
    fill(client, queue, events)
    names = ["sql", "lake"] if variant == "2 destinations" else ["sql"]
    ensure_groups(client, queue, [(keys.consumer_group(name), "0") for name in names])
    readers = [QueueReader(client, queue, "c1", name) for name in names]
    ack = _before(client, queue) if variant == "before" else None
    spent_s, usec = 0.0, script_usec(client)
    for reader in readers:
        while batch := reader.read_new(BATCH, block_ms=None):
            started = time.perf_counter()
            if ack is not None:
                ack([reader.group, len(batch), 0, *(d.entry_id for d in batch)])
            else:
                reader.ack(batch, len(batch), 0)
            spent_s += time.perf_counter() - started
    left = int(client.memory_usage(keys.stream_key(queue), samples=0) or 0)
    assert client.xlen(keys.stream_key(queue)) == 0, "the acks left entries behind"
    return (script_usec(client) - usec) / events, spent_s * 1e6 / events, left


def _before(client: "redis.Redis", queue: str) -> Callable[[list[str | int]], object]:
    script = client.register_script(BEFORE)
    stream_and_stats = [keys.stream_key(queue), keys.stats_key(queue)]
    return lambda args: script(keys=stream_and_stats, args=args)


def xinfo_groups_us(client: "redis.Redis", queue: str) -> float:
    """µs one XINFO GROUPS adds to a script, against the cheapest command (best of five)."""
    best = {}
    for command in ("'XINFO', 'GROUPS'", "'EXISTS'"):
        loop = f"for i = 1, 20000 do redis.call({command}, KEYS[1]) end return 1"
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            client.eval(loop, 1, keys.stream_key(queue))
            timings.append(time.perf_counter() - started)
        best[command] = min(timings) / 20000 * 1e6
    return best["'XINFO', 'GROUPS'"] - best["'EXISTS'"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedServer(Path(folder) / "redis").start()
        try:
            client = redis.Redis.from_url(server.url)
            found: dict[str, list[tuple[float, float, int]]] = {v: [] for v in VARIANTS}
            for round_ in range(args.rounds):
                turn = round_ % len(VARIANTS)  # each variant goes first in some rounds
                for variant in VARIANTS[turn:] + VARIANTS[:turn]:
                    queue = f"q{round_}-{VARIANTS.index(variant)}"
                    found[variant].append(run(client, variant, queue, args.events))
            report(found, args)
            extra_us = xinfo_groups_us(client, "q0-1")
            print(
                f"the XINFO GROUPS one destination's ack adds: {extra_us:.2f} µs a call, "
                f"{extra_us / BATCH:.4f} µs per event at batches of {BATCH}"
            )
        finally:
            server.kill()


def report(found: dict[str, list[tuple[float, float, int]]], args: argparse.Namespace) -> None:
    print(f"{args.events:,} events a round, batches of {BATCH}, {args.rounds} rounds (median)")
    print(f"{'variant':<16} {'script µs/event':>16} {'ack wall µs/event':>18} {'stream left':>12}")
    base = statistics.median(r[0] for r in found["before"])
    for variant, rows in found.items():
        server_us = statistics.median(r[0] for r in rows)
        wall_us = statistics.median(r[1] for r in rows)
        left = max(r[2] for r in rows)
        ratio = f"({server_us / base:.2f}x)"
        print(f"{variant:<16} {server_us:>9.3f} {ratio:>6} {wall_us:>18.2f} {left:>10,} B")


if __name__ == "__main__":
    main()
