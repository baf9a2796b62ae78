"""``sluicegate drill --db-standby``: the drill's own system on a PostgreSQL primary + standby.

Everything of ``LocalSystem`` (embedded Redis, the API and the agents as subprocesses), with the
database a private primary and streaming asynchronous standby (``pg_pair``) that the agents reach
through their multi-host URL (``target_session_attrs=read-write``), with ``DATABASE_REPLICAS`` as
asked. One fault of its own:

- ``db-failover``: the primary's WAL sender is paused (SIGSTOP) while the load goes on, so the
  standby is behind when the primary's host is lost (SIGKILL of every process of the primary);
  the standby is promoted; the agents are not restarted, their consumers find the new primary.
  The old primary's folder is then made a standby of the new one (``pg_basebackup``), as an
  operator or Patroni would, so ``DATABASE_REPLICAS=1`` can be met again. With
  ``DATABASE_REPLICAS=0`` the events acknowledged during the pause are lost: the ids check says so.
"""

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sluicegate.drill import database
from sluicegate.drill.checker import StopFacts
from sluicegate.drill.faults import Fault, FaultContext, FaultResult
from sluicegate.drill.local import LocalSystem, Tuning
from sluicegate.drill.pg_pair import StandbyPair
from sluicegate.drill.pg_server import owned_folder
from sluicegate.drill.schedule import PlannedStop

STANDBY_LAG_S = 1.5  # how long the standby receives nothing before its primary is lost
_DATABASE = "sluicegate"


class StandbySystem(LocalSystem):
    """``LocalSystem`` whose database is a PostgreSQL primary with a streaming standby."""

    mode = "local, PostgreSQL primary + standby"

    def __init__(self, root: Path, tuning: Tuning, keep: bool = False, replicas: int = 1) -> None:
        self.pair = StandbyPair(owned_folder(root / "postgres"))  # root may be root's alone
        self.replicas = replicas
        super().__init__(root, tuning, self.pair.url_of(_DATABASE), keep)
        self.notes = (
            f"database: PostgreSQL primary + asynchronous standby, DATABASE_REPLICAS={replicas} "
            + (
                "(a batch is acknowledged once the standby flushed it)"
                if replicas
                else "(a failover loses what the standby had not received)"
            ),
        )

    def _env(self) -> dict[str, str]:
        return super()._env() | {"DATABASE_REPLICAS": str(self.replicas)}

    @property
    def shape(self) -> dict[str, Any]:
        return super().shape | {
            "database": "PostgreSQL primary + 1 asynchronous streaming standby, "
            f"DATABASE_REPLICAS={self.replicas}"
        }

    @property
    def faults(self) -> Mapping[str, Fault]:
        return {**super().faults, "db-failover": self.fail_over}

    def start(self) -> None:
        self.pair.start()
        self.pair.create_database(_DATABASE)
        super().start()

    def teardown(self) -> list[str]:
        problems = super().teardown()
        self.pair.stop()
        return problems

    def fail_over(self, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
        self.act.aim(ctx)  # a consumer holding a batch: the load is flowing into the database
        started = time.monotonic()
        self.pair.pause_stream()
        database.hold(STANDBY_LAG_S)  # commits go on; the standby receives none of them
        failover = self.pair.fail_over()
        rebuild_s = self.pair.rebuild_standby()
        seen = ctx.inspect()
        notes = self._agents_died("during the database failover")
        remark = (
            f"standby {failover.lag_bytes:,} bytes behind, promoted in {failover.promote_s:.1f} s; "
            f"new standby in {rebuild_s:.1f} s"
        )
        return FaultResult(
            StopFacts(stop.kind, seen.ids, notes=notes),
            seen,
            time.monotonic() - started,
            remark=remark,
        )
