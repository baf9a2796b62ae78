"""Where Redis is: cluster seeds and sentinels from the settings, checked at start."""

import pytest

from sluicegate.errors import ConfigurationError
from sluicegate.queue.client import is_cluster
from sluicegate.queue.topology import Topology, parse_addresses
from sluicegate.settings import load_settings


def test_addresses_parse_with_ipv6_in_brackets() -> None:
    assert parse_addresses(" a:1, b.example:6380 ,[::1]:7000,") == (
        ("a", 1),
        ("b.example", 6380),
        ("::1", 7000),
    )
    for bad in ("a", "a:", ":1", "a:0", "a:70000", "a:x"):
        with pytest.raises(ValueError, match="is not host:port"):
            parse_addresses(bad)


def test_bad_topology_settings_name_the_variable() -> None:
    cases = {
        "REDIS_CLUSTER_NODES": {"redis_cluster_nodes": "a:1,b"},
        "REDIS_SENTINEL_MASTER go together": {"redis_sentinels": "s:26379"},
        "not both": {
            "redis_cluster_nodes": "a:1",
            "redis_sentinels": "s:1",
            "redis_sentinel_master": "m",
        },
        "REDIS_CLUSTER=no": {"redis_cluster_nodes": "a:1", "redis_cluster": "no"},
        "REDIS_CLUSTER=yes": {
            "redis_sentinels": "s:1",
            "redis_sentinel_master": "m",
            "redis_cluster": "yes",
        },
    }
    for message, overrides in cases.items():
        with pytest.raises(ConfigurationError, match=message):
            load_settings(**overrides)


def test_the_url_defaults_to_the_first_seed_or_the_sentinels_primary() -> None:
    seeds = load_settings(redis_cluster_nodes="[::1]:7000,b:7001")
    assert seeds.resolved_redis_url == "redis://[::1]:7000"
    watched = load_settings(redis_sentinels="s:26379", redis_sentinel_master="main")
    assert watched.resolved_redis_url == "redis://main/0"
    given = load_settings(redis_url="redis://u:p@x:1/0", redis_cluster_nodes="a:1")
    assert given.resolved_redis_url == "redis://u:p@x:1/0"


def test_seeds_mean_a_cluster_and_sentinels_a_primary_without_asking() -> None:
    """No probe of REDIS_URL's node (it may be the one down): nothing listens on port 1."""
    seeds = Topology.of(load_settings(redis_cluster_nodes="127.0.0.1:1"))
    assert is_cluster("redis://127.0.0.1:1", "auto", seeds)
    watched = Topology.of(load_settings(redis_sentinels="127.0.0.1:1", redis_sentinel_master="m"))
    assert not is_cluster("redis://127.0.0.1:1", "auto", watched)


def test_a_primary_s_client_takes_the_url_s_credentials_not_its_host() -> None:
    topology = Topology(sentinels=(("s", 26379),), sentinel_master="m")
    options = topology.sentinel_options("rediss://u:p@ignored:1/3", {"socket_timeout": 2.0})
    assert options == {
        "username": "u",
        "password": "p",
        "db": 3,
        "ssl": True,
        "socket_timeout": 2.0,
    }
    assert topology.sentinel_kwargs("rediss://u:p@h:1/3", {"socket_timeout": 2.0, "retry": 1}) == {
        "socket_timeout": 2.0,
        "ssl": True,
    }
