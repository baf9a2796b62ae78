"""The ``redis-full`` fault: Redis fills up during a database outage, and must empty itself.

While the database is away (so the backlog only grows), the drill gives its Redis (every primary
of a cluster) a ``maxmemory`` just above what it holds: above the API's high-water mark at once,
or soon. The API must shed POSTs with 503 ``queue-store-full`` and ``Retry-After``, and with no
5xx of any other kind; the loader retries them with the same ids. Before the database comes back
the limit goes just *below* what Redis holds, so the consumers meet a server that refuses every
write that would grow memory (the wedge of issue 16: the lock script's ``SET`` was refused). Once
the database is back they must drain it with the limit unchanged: the drill queues empty, or Redis
falls below the mark so that the API accepts again. Then the fault ends and the limit is what it
was (the rest of the load must land: a Valkey's own memory, some 2 MB, may be most of a limit
set just below what a small backlog took); the end check finds every retried event stored once.
"""

import time
from collections import Counter
from collections.abc import Callable

import redis

from sluicegate.drill import database
from sluicegate.drill.checker import StopFacts
from sluicegate.drill.faults import FaultContext, FaultResult
from sluicegate.drill.schedule import PlannedStop
from sluicegate.settings import Settings

SHED = "503 queue-store-full"
HEADROOM_BYTES = 256 * 1024  # above use: the API's high-water mark is met at once, or soon
BELOW_BYTES = 64 * 1024  # below use, for the drain: every write that grows memory is refused
_SHED_WAIT_S = 15.0  # for the first shed POST, while the load runs
_IDLE_S = 2.0  # no request answered for this long: the load is over, nothing will be shed
_DRAIN_TIMEOUT_S = 60.0
HIGH_WATER = float(Settings.model_fields["redis_memory_high_water"].default)


def redis_full(
    ctx: FaultContext,
    stop: PlannedStop,
    node_urls: list[str],
    agents_died: Callable[[str], tuple[str, ...]],
) -> FaultResult:
    before = ctx.ledger.status_counts()
    nodes = [redis.Redis.from_url(url) for url in node_urls]
    original = [_maxmemory(node) for node in nodes]
    try:
        with database.outage(ctx.observer.database_url):
            started = time.monotonic()
            for node in nodes:
                node.config_set("maxmemory", _used(node) + HEADROOM_BYTES)
            shed = _wait_for_shed(ctx, before)
            database.hold(max(0.0, ctx.outage_s - (time.monotonic() - started)))
            limits = [_used(node) - BELOW_BYTES for node in nodes]
            for node, limit in zip(nodes, limits, strict=True):
                node.config_set("maxmemory", limit)
        back = time.monotonic()
        drained = ctx.observer.wait_until(
            lambda: ctx.observer.counts().depth == 0 or _below_mark(nodes), _DRAIN_TIMEOUT_S, 0.1
        )
        drain_s = time.monotonic() - back
        unchanged = [_maxmemory(node) for node in nodes] == limits
    finally:
        for node, limit in zip(nodes, original, strict=True):
            node.config_set("maxmemory", limit)  # the fault is over
            node.close()
    seen = ctx.inspect()
    window = ctx.ledger.status_counts() - before
    notes = _problems(window, drained, unchanged) + list(agents_died("while Redis was full"))
    remark = f"{window[SHED]:,} POSTs shed" if shed else "no POST shed (the load was over)"
    remark += f"; drained in {drain_s:.1f} s at maxmemory {sum(limits):,} B"
    return FaultResult(StopFacts(stop.kind, seen.ids, notes=tuple(notes)), seen, drain_s, remark)


def _wait_for_shed(ctx: FaultContext, before: Counter[str]) -> bool:
    """Until the loader meets a shed POST; False when the load is over (nothing answered)."""
    deadline = time.monotonic() + _SHED_WAIT_S
    answered, quiet_since = sum(ctx.ledger.status_counts().values()), time.monotonic()
    while time.monotonic() < deadline:
        counts = ctx.ledger.status_counts()
        if (counts - before)[SHED]:
            return True
        if sum(counts.values()) != answered:
            answered, quiet_since = sum(counts.values()), time.monotonic()
        elif time.monotonic() - quiet_since > _IDLE_S:
            return False
        time.sleep(0.05)
    return False


def _problems(window: Counter[str], drained: bool, unchanged: bool) -> list[str]:
    problems = []
    others = {status: n for status, n in window.items() if status[0] == "5" and status != SHED}
    if others:
        problems.append(f"POSTs met other 5xx while Redis was full: {dict(others)}")
    if not drained:
        problems.append(
            f"Redis was still above {HIGH_WATER:.0%} of its maxmemory "
            f"{_DRAIN_TIMEOUT_S:.0f} s after the database came back: the consumers did not drain"
        )
    if not unchanged:
        problems.append("maxmemory changed while the consumers drained (someone raised it)")
    return problems


def _below_mark(nodes: list["redis.Redis"]) -> bool:
    return all(_used(node) < HIGH_WATER * _maxmemory(node) for node in nodes)


def _used(node: "redis.Redis") -> int:
    return int(node.info("memory")["used_memory"])


def _maxmemory(node: "redis.Redis") -> int:
    return int(node.info("memory")["maxmemory"])
