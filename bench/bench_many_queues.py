"""Many queues: processes, memory (PSS), database connections and lag of one agent.

Puts ``--events`` events into each of ``--queues`` queues, starts ``python -m sluicegate agent``
against a private Valkey and a private PostgreSQL (``max_connections`` = 100, its default) and
samples, until every event is persisted: the agent's consumer processes, the PSS of the agent and
its consumers, the server's connections from sluicegate, and refused connections in the logs.
The lag of an event is ``persisted_at - accepted_at``; the report gives each queue's worst.

A negative time means the run was stopped at ``--cap-mb`` of PSS (to protect a shared machine).

Usage: python -m bench.bench_many_queues --queues 1 100 1000 [--events 1] [--cap-mb 4096]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg

from sluicegate.embedded import EmbeddedServer
from tests.loading import enqueue, make_events
from tests.postgres_server import PrivatePostgres, private_postgres

_SAMPLE_S = 0.2
_REFUSED = (b"too many clients", b"connection failed", b"53300")


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
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT queue, max(persisted_at - accepted_at) FROM events GROUP BY queue"
        ).fetchall()
    return {queue: int(lag) for queue, lag in rows}


def persisted(dsn: str) -> int:
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row else 0


def run(
    queues: int, events: int, pg: PrivatePostgres, folder: Path, env: dict[str, str], cap_mb: int
) -> str:
    redis_server = EmbeddedServer(folder / f"redis-{queues}").start()
    dsn = pg.dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS events")
    try:
        for n in range(queues):
            enqueue(redis_server.url, make_events(f"q{n}", events))
        log_path = folder / f"agent-{queues}.log"
        agent_env = {**env, "REDIS_URL": redis_server.url, "DATABASE_URL": dsn}
        started = time.monotonic()
        with log_path.open("wb") as log:
            agent = subprocess.Popen(
                [sys.executable, "-m", "sluicegate", "agent"],
                env=agent_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
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
        lags = sorted(lags_ms(dsn).values()) or [0]
        return (
            f"{queues:>6}  {persisted(dsn):>9}/{total:<9} {elapsed:7.1f}  {peak_procs:>5}  "
            f"{peak_pss / 1024:8.0f}  {after_procs:>5}  {after_pss / 1024:8.0f}  {peak_conns:>5}  "
            f"{refused:>7}  {statistics.median(lags):>8}  {lags[-1]:>8}"
        )
    finally:
        redis_server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--events", type=int, default=1, help="events per queue")
    parser.add_argument("--cap-mb", type=int, default=4096, help="stop the agent above this PSS")
    args = parser.parse_args()
    env = {**os.environ, "QUEUE_POLL_FREQ": "0.5", "LOG_LEVEL": "info", "AGENT_PORT": "0"}
    print(
        "queues  persisted/total     s      peak   peak MB  procs   MB      peak   refused  "
        "median    worst\n"
        "                                   procs  PSS      after   after   conns  (logs)   "
        "lag ms    lag ms"
    )
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-many-") as tmp:
        pg = stack.enter_context(private_postgres())
        for queues in args.queues:
            print(run(queues, args.events, pg, Path(tmp), env, args.cap_mb), flush=True)


if __name__ == "__main__":
    main()
