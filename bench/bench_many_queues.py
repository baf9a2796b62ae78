"""Many queues: processes, memory (PSS), database connections and lag of one agent.

Puts ``--events`` events into each of ``--queues`` queues, starts ``python -m sluicegate agent``
against a private Valkey and a private PostgreSQL (``max_connections`` = 100, its default) and
samples, until every event is persisted: the agent's consumer processes, the PSS of the agent and
its consumers, the server's connections from sluicegate, and refused connections in the logs.
The lag of an event is ``persisted_at - accepted_at``; the report gives each queue's worst.

A negative time means the run was stopped at ``--cap-mb`` of PSS (to protect a shared machine).

After the table, the facts of issue 12's "done when", each checked and stated with its figures:
peak consumer processes and connections against MAX_CONSUMERS, refused connections in the agent's
log, every event persisted once (rows, distinct ids, missing ids against the events enqueued),
and the slowest queue's lag against ``--lag-bound-s``. Exit 1 if one does not hold.

Usage: python -m bench.bench_many_queues --queues 1 100 1000 [--events 1] [--cap-mb 4096]
       [--lag-bound-s 60]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

from sluicegate.drill.pg_server import PrivatePostgres
from sluicegate.embedded.server import EmbeddedServer
from sluicegate.settings import Settings
from tests.loading import enqueue, make_events
from tests.postgres_server import private_postgres

_SAMPLE_S = 0.2
_REFUSED = (b"too many clients", b"connection failed", b"53300")


def start_agent(env: dict[str, str], log_path: Path) -> "subprocess.Popen[bytes]":
    """``python -m sluicegate agent`` in a session of its own, its output in ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "sluicegate", "agent"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def connections(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sluicegate'"
        ).fetchone()
    return int(row[0]) if row else 0


def lags_ms(dsn: str) -> dict[str, int]:
    """Each queue's worst lag; none when the run was stopped at the cap before a first batch
    (the agent makes the table with it)."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT queue, max(persisted_at - accepted_at) FROM events GROUP BY queue"
            ).fetchall()
    except psycopg.errors.UndefinedTable:
        return {}
    return {queue: int(lag) for queue, lag in rows}


def persisted(dsn: str) -> int:
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row else 0


def stored_ids(dsn: str) -> list[str]:
    """Every stored event id, one per row (a duplicate would appear twice); none without the
    table, as in ``lags_ms``."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            return [row[0] for row in conn.execute("SELECT event_id FROM events")]
    except psycopg.errors.UndefinedTable:
        return []


@dataclass(frozen=True, slots=True)
class Result:
    queues: int
    events: int  # enqueued, all queues
    rows: int
    distinct: int  # distinct event ids among the rows
    missing: int  # enqueued ids with no row
    seconds: float  # agent start until every event is stored (negative: stopped at the cap)
    enqueue_s: float  # time to enqueue every event, before the agent starts
    peak_procs: int
    peak_pss_mb: float
    after_procs: int
    after_pss_mb: float
    peak_conns: int
    refused: int  # "too many clients" and failed connections in the agent's log
    median_lag_ms: float  # of the queues' worst lags
    worst_lag_ms: int
    slowest: str
    redis_commands: dict[str, int]  # calls by command, from the agent's start to the end

    def commands_line(self) -> str:
        """Calls a queue by command, the most first; XLEN and TIME are the queue listings of
        the agent and of each consumer (every QUEUE_POLL_FREQ), not visits."""
        ranked = sorted(self.redis_commands.items(), key=lambda item: -item[1])
        return ", ".join(f"{name} {calls / self.queues:.1f}" for name, calls in ranked[:12])

    def row(self) -> str:
        return (
            f"{self.queues:>6}  {self.rows:>9}/{self.events:<9} {self.seconds:7.1f}  "
            f"{self.peak_procs:>5}  {self.peak_pss_mb:8.0f}  {self.after_procs:>5}  "
            f"{self.after_pss_mb:8.0f}  {self.peak_conns:>5}  {self.refused:>7}  "
            f"{self.median_lag_ms:>8.0f}  {self.worst_lag_ms:>8}"
        )

    def checks(self, max_consumers: int, lag_bound_s: float) -> list[tuple[bool, str]]:
        """The done-when facts of issue 12, each stated with its figures."""
        once = self.rows == self.distinct == self.events and self.missing == 0
        return [
            (
                self.peak_procs <= max_consumers,
                f"consumer processes: peak {self.peak_procs} <= MAX_CONSUMERS {max_consumers}",
            ),
            (
                self.peak_conns <= max_consumers,
                f"database connections: peak {self.peak_conns} <= MAX_CONSUMERS {max_consumers}",
            ),
            (self.refused == 0, f"refused connections in the agent's log: {self.refused}"),
            (
                once,
                f"persisted once: {self.rows:,} rows, {self.distinct:,} distinct ids, "
                f"{self.events:,} events enqueued, {self.missing:,} missing",
            ),
            (
                self.worst_lag_ms <= lag_bound_s * 1000,
                f"slowest queue's lag: {self.worst_lag_ms / 1000:.1f} s ({self.slowest}) <= "
                f"bound {lag_bound_s:.0f} s (enqueue {self.enqueue_s:.1f} s + drain "
                f"{abs(self.seconds):.1f} s)",
            ),
        ]


def run(
    queues: int, events: int, pg: PrivatePostgres, folder: Path, env: dict[str, str], cap_mb: int
) -> Result:
    redis_server = EmbeddedServer(folder / f"redis-{queues}").start()
    dsn = pg.dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS events")
    try:
        enqueue_started = time.monotonic()
        ids = [
            i
            for n in range(queues)
            for i in enqueue(redis_server.url, make_events(f"q{n}", events))
        ]
        enqueue_s = time.monotonic() - enqueue_started
        server = redis.Redis.from_url(redis_server.url)
        server.config_resetstat()  # count the agent's commands only
        log_path = folder / f"agent-{queues}.log"
        agent_env = {**env, "REDIS_URL": redis_server.url, "DATABASE_URL": dsn}
        started = time.monotonic()
        agent = start_agent(agent_env, log_path)
        peak_procs = peak_pss = peak_conns = 0
        total = queues * events
        elapsed = 0.0
        try:
            while time.monotonic() - started < 300:
                kids = children(agent.pid)
                peak_procs = max(peak_procs, len(kids))
                peak_pss = max(peak_pss, pss_kib(agent.pid) + sum(pss_kib(p) for p in kids))
                peak_conns = max(peak_conns, connections(dsn))
                if persisted(dsn) >= total:
                    elapsed = time.monotonic() - started
                    break
                if peak_pss > cap_mb * 1024:  # protect a shared machine: report what was reached
                    elapsed = -(time.monotonic() - started)
                    break
                time.sleep(_SAMPLE_S)
            kids = children(agent.pid)
            after_pss = pss_kib(agent.pid) + sum(pss_kib(p) for p in kids)
            after_procs = len(kids)
        finally:
            agent.send_signal(15)  # the agent drains its consumers
            agent.wait(timeout=60)
        text = log_path.read_bytes()
        refused = sum(text.count(marker) for marker in _REFUSED)
        lags = lags_ms(dsn)
        rows = stored_ids(dsn)
        stats = server.info("commandstats")
        server.close()
        ranked = sorted(lags.values()) or [0]
        return Result(
            queues=queues,
            events=total,
            rows=len(rows),
            distinct=len(set(rows)),
            missing=len(set(ids) - set(rows)),
            seconds=elapsed,
            enqueue_s=enqueue_s,
            peak_procs=peak_procs,
            peak_pss_mb=peak_pss / 1024,
            after_procs=after_procs,
            after_pss_mb=after_pss / 1024,
            peak_conns=peak_conns,
            refused=refused,
            median_lag_ms=statistics.median(ranked),
            worst_lag_ms=ranked[-1],
            slowest=max(lags, key=lambda queue: lags[queue]) if lags else "-",
            redis_commands={
                name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()
            },
        )
    finally:
        redis_server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--events", type=int, default=1, help="events per queue")
    parser.add_argument("--cap-mb", type=int, default=4096, help="stop the agent above this PSS")
    parser.add_argument(
        "--lag-bound-s",
        type=float,
        default=60.0,
        help="the slowest queue's lag must stay within this (the stated bound)",
    )
    args = parser.parse_args()
    env = {**os.environ, "QUEUE_POLL_FREQ": "0.5", "LOG_LEVEL": "info", "AGENT_PORT": "0"}
    max_consumers = Settings().max_consumers  # the agent's default: nothing here sets it
    print(
        f"MAX_CONSUMERS {max_consumers} (the default, 2 x {os.cpu_count()} cores); "
        "PostgreSQL max_connections 100\n"
        "queues  persisted/total     s      peak   peak MB  procs   MB      peak   refused  "
        "median    worst\n"
        "                                   procs  PSS      after   after   conns  (logs)   "
        "lag ms    lag ms"
    )
    results = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-many-") as tmp:
        pg = stack.enter_context(private_postgres())
        for queues in args.queues:
            results.append(run(queues, args.events, pg, Path(tmp), env, args.cap_mb))
            print(results[-1].row(), flush=True)
    failed = 0
    for result in results:
        print(f"\n{result.queues} queues:")
        for ok, fact in result.checks(max_consumers, args.lag_bound_s):
            failed += not ok
            print(f"  {'ok  ' if ok else 'FAIL'} {fact}")
        print(f"  Redis commands a queue, from the agent's start: {result.commands_line()}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
