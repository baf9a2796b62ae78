"""Both systems offer the fault kinds the command line promises for them."""

from sluicegate.drill.cluster import ClusterSystem
from sluicegate.drill.deployment import Deployment
from sluicegate.drill.local import LocalSystem, Tuning
from sluicegate.drill.schedule import CLUSTER_KINDS, DEPLOYMENT_KINDS, FAULT_KINDS
from sluicegate.drill.system import System


def test_the_local_system_does_every_kind(tmp_path):
    system: System = LocalSystem(tmp_path, Tuning())
    assert tuple(system.faults) == (*FAULT_KINDS, "random")
    assert system.mode == "local"


def test_the_cluster_system_swaps_the_redis_restart_for_cluster_faults(tmp_path):
    system: System = ClusterSystem(tmp_path, Tuning(), replicas=1)
    assert set(system.faults) == {*FAULT_KINDS, *CLUSTER_KINDS} - {"redis-restart"}
    assert any("DURABILITY_REPLICAS=1" in note for note in system.notes)


def test_a_deployment_does_what_its_commands_can(tmp_path):
    system: System = Deployment("http://x", "redis://x", "sqlite:///x", "true", "true")
    assert {*system.faults, "mixed"} == set(DEPLOYMENT_KINDS)
    assert system.keep_files(passed=False) is None
    assert system.notes
