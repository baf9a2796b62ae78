"""The drill's TCP proxy against a real Redis: transparent, then latency, reset, black hole."""

import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sluicegate.drill.proxy import Proxy
from sluicegate.embedded.server import EmbeddedServer
from tests.waiting import wait_for


@pytest.fixture
def proxy(redis_server: EmbeddedServer) -> Iterator[Proxy]:
    proxy = Proxy("127.0.0.1", redis_server.port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def client_through(proxy: Proxy, timeout_s: float = 5.0) -> redis.Redis:
    """No retries: each error is the proxy's doing, and must show."""
    return redis.Redis(
        port=proxy.port,
        socket_timeout=timeout_s,
        socket_connect_timeout=1.0,
        retry=Retry(NoBackoff(), 0),
    )


def ping_on(connection) -> object:
    connection.send_command("PING")
    return connection.read_response()


def round_trip_s(client: redis.Redis) -> float:
    started = time.monotonic()
    assert client.ping()
    return time.monotonic() - started


def fastest_round_trip_s(client: redis.Redis, tries: int = 5) -> float:
    return min(round_trip_s(client) for _ in range(tries))


def test_it_forwards_commands_and_replies(proxy):
    client = client_through(proxy)
    client.set("k", b"x" * 200_000)  # more than one chunk each way
    assert client.get("k") == b"x" * 200_000
    assert proxy.connections == 1


def test_latency_delays_each_direction_and_goes_away(proxy):
    """A held round trip takes at least twice the latency, always; one without latency is far
    quicker, yet a busy machine may stall any single ping: the best of five is the one judged."""
    client = client_through(proxy)
    assert fastest_round_trip_s(client) < 0.15
    proxy.set_latency(0.15)
    assert round_trip_s(client) >= 0.3  # request and reply each held 0.15 s
    proxy.clear()
    assert fastest_round_trip_s(client) < 0.15


def test_reset_breaks_open_connections_and_new_ones_work(proxy):
    client = client_through(proxy)
    assert client.ping()
    connection = client.connection_pool.get_connection()
    assert proxy.reset() == 1
    with pytest.raises(redis.ConnectionError):
        ping_on(connection)
    client.connection_pool.release(connection)
    assert client.ping()  # a new connection goes through
    assert proxy.resets == 1


def test_a_black_hole_stalls_until_it_ends(proxy):
    client = client_through(proxy, timeout_s=0.3)
    patient = client_through(proxy, timeout_s=5.0).connection_pool.get_connection()
    assert client.ping()
    proxy.blackhole(True)
    with pytest.raises(redis.TimeoutError):
        client.ping()  # the open connection: no answer within its timeout
    with pytest.raises(redis.TimeoutError):
        client_through(proxy, timeout_s=0.3).ping()  # a new one: accepted, then nothing
    patient.send_command("PING")  # a command sent into the hole is answered after, not lost
    time.sleep(0.2)  # part of the experiment: the command waits in the hole
    proxy.blackhole(False)
    assert patient.read_response() in (b"PONG", "PONG", True)
    assert wait_for(lambda: client_through(proxy).ping(), timeout_s=5.0)
