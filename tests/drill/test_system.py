"""Both systems offer the fault kinds the command line promises for them."""

from sluicegate.drill.cluster import ClusterSystem
from sluicegate.drill.deployment import Deployment
from sluicegate.drill.local import LocalSystem, Tuning
from sluicegate.drill.schedule import CLUSTER_KINDS, DEPLOYMENT_KINDS, FAULT_KINDS, NET_KINDS
from sluicegate.drill.system import System


def test_the_local_system_does_every_kind(tmp_path):
    system: System = LocalSystem(tmp_path, Tuning())
    assert tuple(system.faults) == (*FAULT_KINDS, "random")
    assert system.mode == "local"


def test_the_cluster_system_swaps_the_redis_restart_for_cluster_faults(tmp_path):
    system: System = ClusterSystem(tmp_path, Tuning(), replicas=1)
    dropped = {"redis-restart", *NET_KINDS}  # no proxy can stand in front of a cluster
    assert set(system.faults) == {*FAULT_KINDS, *CLUSTER_KINDS} - dropped
    assert any("DURABILITY_REPLICAS=1" in note for note in system.notes)


def test_a_deployment_does_what_its_commands_can(tmp_path):
    system: System = Deployment("http://x", "redis://x", "sqlite:///x", "true", "true")
    assert {*system.faults, "mixed"} == set(DEPLOYMENT_KINDS)
    assert system.keep_files(passed=False) is None
    assert system.notes


def test_the_consumers_reach_postgres_through_a_proxy_with_the_same_credentials(tmp_path):
    url = "postgresql://drill:s%40cret@db.example:6543/events?options=-c%20search_path%3Dx"
    system = LocalSystem(tmp_path, Tuning(), database_url=url)
    redis_proxy, database_proxy = system.proxy.proxies
    assert database_proxy.upstream == ("db.example", 6543)
    assert system.agent.env["DATABASE_URL"] == (
        f"postgresql://drill:s%40cret@127.0.0.1:{database_proxy.port}/events"
        "?options=-c%20search_path%3Dx"
    )
    assert system.agent.env["REDIS_URL"] == f"redis://127.0.0.1:{redis_proxy.port}/0"
    assert system.api.env["DATABASE_URL"] == url  # the API and the drill's checks go direct
