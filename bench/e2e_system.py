"""The whole system as a user deploys it, for bench_e2e, and readings of what it did.

A private Valkey (AOF, ``appendfsync always``, ``maxmemory`` as ``sluicegate up`` sets it), a
database (SQLite in the data folder, or a PostgreSQL schema of its own), one API process and one
agent, each ``python -m sluicegate <command>`` run from a given ``src`` folder (this checkout's or
an older one's) with every setting at its default. A reading says how many events the queue's
stream ever took, how many rows the database holds, the CPU seconds of each process so far, and
Valkey's calls per command so far (minus the readings' own).
"""

import os
import resource
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import httpx
import psycopg
import redis

from bench.procstat import cpu_s, tree_cpu_s
from sluicegate.drill.service import Service, agent_ready
from sluicegate.embedded.server import EmbeddedServer, free_port, maxmemory_bytes
from sluicegate.queue import keys
from tests.postgres_server import private_schema

QUEUE = "bench"
_START_TIMEOUT_S = 60.0
_STOP_DEADLINE_S = 10.0
# Settings a user's shell may hold that would point a process elsewhere than the system we start.
_NOT_INHERITED = ("REDIS_", "DATABASE_", "SQLITE_", "SLUICEGATE_", "QUEUE_", "API_", "LOG_")


@dataclass(frozen=True)
class Reading:
    at_s: float  # time.monotonic()
    accepted: int  # events the queue ever accepted
    persisted: int  # rows in the database
    cpu_s: dict[str, float]  # process → CPU seconds so far: api, agent, valkey[, postgres]
    calls: dict[str, int]  # Valkey command → calls so far
    machine_busy_s: float  # CPU seconds this machine spent on anything so far (all cores)
    bench_s: float  # CPU seconds of this process and of the children it reaped (wrk)


def machine_busy_s() -> float:
    """CPU seconds of every core not idle (nor waiting for I/O) since boot, from /proc/stat."""
    ticks = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = ticks[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def bench_cpu_s() -> float:
    """CPU seconds of this process and of its children reaped so far."""
    own, reaped = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


class Database(Protocol):
    name: str

    @property
    def url(self) -> str | None:
        """DATABASE_URL; None: SQLite in the data folder, the embedded default (a property:
        read-only, so Sqlite's None and Postgres's str both fit)."""

    def rows(self) -> int: ...
    def backends_cpu_s(self) -> dict[str, float]: ...


class Sqlite:
    """The embedded default: ``events.db`` in the data folder, written by the consumers."""

    name = "sqlite"
    url = None

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "events.db"

    def rows(self) -> int:
        try:
            with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5) as db:
                return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0

    def backends_cpu_s(self) -> dict[str, float]:
        return {}  # SQLite runs inside the consumers


class Postgres:
    """A schema of its own; its server's backends found by the application_name in the URL.
    A backend's CPU is the last value seen, so one that exits between two readings keeps what
    it had used when last seen."""

    name = "postgres"

    def __init__(self, url: str) -> None:
        self.application = f"sluicegate-e2e-{uuid.uuid4().hex[:8]}"
        self.url = f"{url}&application_name={self.application}"
        self._conn = psycopg.connect(url, autocommit=True)
        self._seen: dict[int, float] = {}

    def rows(self) -> int:
        try:
            row = self._conn.execute("SELECT count(*) FROM events").fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
        return int(row[0]) if row else 0

    def backends_cpu_s(self) -> dict[str, float]:
        query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
        for (pid,) in self._conn.execute(query, (self.application,)).fetchall():
            self._seen[pid] = cpu_s(pid) or self._seen.get(pid, 0.0)
        return {"postgres": sum(self._seen.values())}

    def close(self) -> None:
        self._conn.close()


@contextmanager
def postgres(dsn: str) -> Iterator[Postgres]:
    """A fresh schema in ``dsn``'s database, dropped afterwards (after the system stopped)."""
    with private_schema(dsn) as url:
        database = Postgres(url)
        try:
            yield database
        finally:
            database.close()


class System:
    """Valkey, the agent and the API, started on entry and stopped on exit (API first)."""

    def __init__(
        self, folder: Path, src: Path, database: Database, settings: dict[str, str] | None = None
    ) -> None:
        self.folder = folder
        self.settings = settings or {}  # environment for the agent and the API, over the defaults
        self.database = database
        self.port = free_port()
        maxmemory = str(maxmemory_bytes("auto"))
        self.valkey = EmbeddedServer(folder / "redis", extra_args=("--maxmemory", maxmemory))
        self.services: list[Service] = []
        self.src = src
        self.readings = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/events/{QUEUE}"

    def __enter__(self) -> "System":
        self.valkey.start()
        self.client = redis.Redis.from_url(self.valkey.url)
        env = self._env()
        self.services = [
            Service("agent", env, self.folder, ready=agent_ready),
            Service("api", env, self.folder, ready=lambda _: self._api_ready()),
        ]
        try:
            for service in self.services:
                service.start(timeout_s=_START_TIMEOUT_S)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for service in reversed(self.services):
            if service.running:
                service.terminate(_STOP_DEADLINE_S)
        self.client.close()
        self.valkey.kill()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
        env |= {
            "PYTHONPATH": str(self.src),
            "REDIS_URL": self.valkey.url,
            "PORT": str(self.port),
            "AGENT_PORT": "0",  # a free port: never collide with an agent already running
            "SLUICEGATE_DATA_DIR": str(self.folder),
        }
        env |= {"DATABASE_URL": self.database.url} if self.database.url else {}
        return env | self.settings

    def _api_ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def read(self) -> Reading:
        """The figures so far. Valkey's calls leave out those of the readings before this one
        and this one's XINFO (its INFO counts itself only in the next reading)."""
        at_s = time.monotonic()
        self.readings += 1
        rows = self.database.rows()  # before the stream's count: a row is never ahead of it
        # Events, counted with them by the enqueue script (an entry may hold a request's).
        accepted = int(self.client.hget(keys.stats_key(QUEUE), keys.STAT_ACCEPTED) or 0)
        stats = self.client.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
        for command, own in (("hget", self.readings), ("info", self.readings - 1)):
            calls[command] = calls.get(command, 0) - own
        assert self.valkey.process is not None
        agent, api = (service.pid for service in self.services)
        cpu = {"api": tree_cpu_s(api), "agent": tree_cpu_s(agent)}
        cpu |= {"valkey": cpu_s(self.valkey.process.pid), **self.database.backends_cpu_s()}
        return Reading(at_s, accepted, rows, cpu, calls, machine_busy_s(), bench_cpu_s())
