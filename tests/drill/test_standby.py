"""drill --db-standby: its system offers db-failover, so mixed draws it (the drill runs themselves
are in docs/postgres.md: about 30 s each, too long for the suite)."""

import pytest

from sluicegate.drill.local import Tuning
from sluicegate.drill.pg_server import find_binaries
from sluicegate.drill.schedule import plan_stops
from sluicegate.drill.standby import StandbySystem


@pytest.mark.skipif(find_binaries() is None, reason="needs PostgreSQL's server programs")
def test_mixed_draws_db_failover_with_the_standby(tmp_path) -> None:
    system = StandbySystem(tmp_path, Tuning(), replicas=1)
    assert "db-failover" in system.faults
    planned = plan_stops("mixed", len(system.faults), seed=1, kinds=tuple(system.faults))
    assert "db-failover" in {stop.kind for stop in planned}
    assert system._env()["DATABASE_REPLICAS"] == "1"
    assert "," in system.database_url  # both hosts: the agents find the primary themselves
