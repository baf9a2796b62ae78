"""Replica-confirmed persists: a batch is acknowledged in Redis only once N standbys have it.

PostgreSQL's own answer, a synchronous standby, is a server setting (``synchronous_standby_names``)
that most deployments leave empty; ``SET LOCAL synchronous_commit`` in the transaction changes
nothing without it. So the consumer waits itself, which works with asynchronous standbys: after
the commit it reads the primary's WAL insert position, which is at or past the end of its commit
record, and polls ``pg_stat_replication`` until ``DATABASE_REPLICAS`` standbys report a
``flush_lsn`` at or past it. ``pg_current_wal_insert_lsn`` rather than ``pg_current_wal_lsn`` (the
write position): with ``synchronous_commit=off`` the commit may not be written yet, and a write
position read before it would let the wait end too early.

The LSN columns of ``pg_stat_replication`` are NULL to a role without the privileges of
``pg_read_all_stats`` (``pg_monitor`` includes it) or superuser: the agent refuses to start then.
A physical standby's WAL sender has no database (a logical replication client has one): only the
former are counted.
"""

import time
from dataclasses import dataclass
from typing import Any

import psycopg

from sluicegate.errors import ConfigurationError, TransientStoreError

_STANDBYS = (
    "FROM pg_stat_replication r LEFT JOIN pg_stat_activity a USING (pid) WHERE a.datname IS NULL"
)
_FLUSHED = f"SELECT count(*) {_STANDBYS} AND r.flush_lsn >= %s::pg_lsn"
_COMMIT_LSN = "SELECT pg_current_wal_insert_lsn()::text"
_STATE = (
    "SELECT pg_is_in_recovery(), pg_has_role('pg_read_all_stats', 'USAGE'), count(*), "
    "count(*) FILTER (WHERE r.sync_state IN ('sync', 'quorum') AND "
    "current_setting('synchronous_commit') IN ('on', 'remote_write', 'remote_apply')) "
    f"{_STANDBYS}"
)
_FIRST_POLL_S = 0.0005
_MAX_POLL_S = 0.002


class StandbysBehindError(TransientStoreError):
    """Fewer than DATABASE_REPLICAS standbys flushed a batch's commit in time: the batch stays
    pending (not acknowledged) and is written again after a backoff (ON CONFLICT: no change)."""


def wait_for_standbys(conn: "psycopg.Connection[Any]", wanted: int, timeout_s: float) -> None:
    """Return once ``wanted`` standbys have flushed everything this session committed."""
    lsn = conn.execute(_COMMIT_LSN).fetchone()[0]  # type: ignore[index]
    deadline = time.monotonic() + timeout_s
    pause_s = _FIRST_POLL_S
    while (flushed := conn.execute(_FLUSHED, (lsn,)).fetchone()[0]) < wanted:  # type: ignore[index]
        if time.monotonic() >= deadline:
            raise StandbysBehindError(
                f"DATABASE_REPLICAS={wanted}: {flushed} standby(s) flushed the commit at {lsn} "
                f"within {timeout_s:g} s"
            )
        time.sleep(pause_s)  # a poll with a deadline: the standby reports its flush itself
        pause_s = min(pause_s * 2, _MAX_POLL_S)


@dataclass(frozen=True, slots=True)
class ReplicationState:
    """What the server says about its standbys, as the role sees it."""

    in_recovery: bool  # the URL reached a standby
    can_see_lsn: bool  # pg_read_all_stats (pg_monitor) or superuser: LSN columns readable
    standbys: int  # physical standbys connected (streaming or catching up)
    synchronous: int  # of those, commits wait for them (sync or quorum, synchronous_commit on)


def read_state(conn: "psycopg.Connection[Any]") -> ReplicationState:
    row = conn.execute(_STATE).fetchone()
    assert row is not None
    return ReplicationState(bool(row[0]), bool(row[1]), int(row[2]), int(row[3]))


def judge(state: ReplicationState, wanted: int) -> str | None:
    """A warning for the log and /readyz, or None; ``ConfigurationError`` when DATABASE_REPLICAS
    cannot be met (the agent exits 2)."""
    if state.in_recovery:
        return (
            "DATABASE_URL reached a standby (read-only): consumers wait for a primary; name every "
            "host with target_session_attrs=read-write"
        )
    if wanted and not state.can_see_lsn:
        raise ConfigurationError(
            f"DATABASE_REPLICAS={wanted} needs the standbys' flush positions, which this role "
            "cannot read: GRANT pg_monitor TO the role (or use DATABASE_REPLICAS=0)"
        )
    if wanted > state.standbys:
        raise ConfigurationError(
            f"DATABASE_REPLICAS={wanted}, but the primary has {state.standbys} standby(s) "
            "connected: start them first, or lower DATABASE_REPLICAS"
        )
    if wanted == 0 and state.standbys and not state.synchronous:
        return (
            f"the primary streams to {state.standbys} standby(s), none waited for "
            "(DATABASE_REPLICAS=0, no synchronous standby): a failover to a standby loses the "
            "batches it had not received, already acknowledged in Redis; set DATABASE_REPLICAS=1"
        )
    return None
