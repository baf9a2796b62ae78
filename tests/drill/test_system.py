"""Both systems offer the fault kinds the command line promises for them."""

from sluicegate.drill.deployment import Deployment
from sluicegate.drill.local import LocalSystem, Tuning
from sluicegate.drill.schedule import DEPLOYMENT_KINDS, FAULT_CHOICES
from sluicegate.drill.system import System


def test_the_local_system_does_every_kind(tmp_path):
    system: System = LocalSystem(tmp_path, Tuning())
    assert (*system.faults, "mixed") == FAULT_CHOICES
    assert system.mode == "local"


def test_a_deployment_does_what_its_commands_can(tmp_path):
    system: System = Deployment("http://x", "redis://x", "sqlite:///x", "true", "true")
    assert {*system.faults, "mixed"} == set(DEPLOYMENT_KINDS)
    assert system.keep_files(passed=False) is None
    assert system.notes
