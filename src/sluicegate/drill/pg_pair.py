"""A private PostgreSQL primary with one streaming (asynchronous) standby, and its failover.

What production runs (Patroni, CloudNativePG, a managed HA pair), small: the standby is made with
``pg_basebackup -R`` and streams the primary's WAL without the primary waiting for it. Clients use
the pair's multi-host URL with ``target_session_attrs=read-write``, so libpq finds the primary
whichever of the two it is. ``pause_stream`` (the primary's WAL sender stopped) makes the standby
fall behind (as a busy or distant standby is); ``fail_over`` is a lost primary host: the primary
is SIGKILLed, the standby promoted.
``rebuild_standby`` then makes the old primary's folder a standby of the new primary.
"""

import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluicegate.drill import procs
from sluicegate.drill.pg_server import PrivatePostgres, find_binaries, owned_folder
from sluicegate.embedded.server import free_port
from sluicegate.errors import DrillError

_STREAMING_TIMEOUT_S = 60.0
_POLL_S = 0.05
# As production runs: a commit waits for its WAL write on the primary (not for the standby).
PAIR_SETTINGS = {"synchronous_commit": "on"}


@dataclass(frozen=True, slots=True)
class Failover:
    lag_bytes: int  # WAL the standby had not flushed when its primary was killed
    promote_s: float  # from the kill until the standby accepted writes


class StandbyPair:
    """Servers ``a`` and ``b`` under ``root``; ``a`` starts as the primary."""

    def __init__(self, root: Path, settings: dict[str, str] | None = None) -> None:
        bin_dir = find_binaries()
        if bin_dir is None:
            raise DrillError("--db-standby needs PostgreSQL's server programs (initdb, pg_ctl)")
        wanted = PAIR_SETTINGS | (settings or {})
        self.servers = [
            PrivatePostgres(bin_dir, owned_folder(root / name), free_port(), dict(wanted))
            for name in ("pg-a", "pg-b")
        ]
        self._primary = 0
        self._paused: int | None = None  # the WAL sender stopped by pause_stream

    @property
    def primary(self) -> PrivatePostgres:
        return self.servers[self._primary]

    @property
    def standby(self) -> PrivatePostgres:
        return self.servers[1 - self._primary]

    @property
    def url(self) -> str:
        return self.url_of("postgres")

    def url_of(self, dbname: str) -> str:
        """Both hosts; libpq connects to whichever accepts writes."""
        hosts = ",".join(f"127.0.0.1:{server.port}" for server in self.servers)
        return f"postgresql://postgres@{hosts}/{dbname}?target_session_attrs=read-write"

    def create_database(self, dbname: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.primary.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))

    def start(self) -> None:
        self.primary.init()
        self.primary.start()
        self.rebuild_standby()

    def rebuild_standby(self) -> float:
        """A fresh standby of the primary in the other folder; returns the seconds it took."""
        started = time.monotonic()
        standby = self.standby
        shutil.rmtree(standby.data_dir, ignore_errors=True)
        standby.run_tool(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres"),
            *("-D", str(standby.data_dir), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
        )
        standby.start()
        self.wait_streaming()
        return time.monotonic() - started

    def wait_streaming(self, timeout_s: float = _STREAMING_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while (
            _one(self.primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
            < 1
        ):
            if time.monotonic() > deadline:
                raise DrillError(f"the standby did not stream within {timeout_s:.0f} s")
            time.sleep(_POLL_S)

    def pause_stream(self) -> None:
        """Stop the primary's WAL sender (SIGSTOP): commits go on, the standby falls behind.
        The sender, not the standby's receiver: a stopped receiver still has the WAL sent
        meanwhile in its socket's buffer, and writes it all once it runs again."""
        sender = _one(self.primary, "SELECT coalesce(max(pid), 0) FROM pg_stat_replication")
        if not sender:
            raise DrillError("the primary has no WAL sender: the standby is not streaming")
        procs.send([sender], signal.SIGSTOP)
        self._paused = sender

    def resume_stream(self) -> None:
        if self._paused is not None:
            procs.send([self._paused], signal.SIGCONT)
            self._paused = None

    def fail_over(self) -> Failover:
        """SIGKILL the primary (a paused WAL sender with it: what it held back is lost with the
        host), promote the standby. The old primary stays down until ``rebuild_standby``."""
        lag = _one(
            self.primary,
            "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), flush_lsn)), 0)"
            "::bigint FROM pg_stat_replication",
        )
        started = time.monotonic()
        self.primary.kill()
        self._paused = None
        self.standby.promote()
        self._primary = 1 - self._primary
        return Failover(int(lag), time.monotonic() - started)

    def stop(self) -> None:
        self.resume_stream()
        for server in self.servers:
            if server.is_running():
                server.kill()


def _one(server: PrivatePostgres, sql: str) -> Any:
    """The single value of ``sql`` on ``server`` (as the superuser, over its own port)."""
    import psycopg

    with psycopg.connect(server.dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None
