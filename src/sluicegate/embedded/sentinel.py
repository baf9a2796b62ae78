"""A local Redis Sentinel setup from the embedded binary: a primary, a replica, three sentinels.

Used by ``sluicegate drill --sentinel`` and the tests: a real failover (the primary SIGKILLed,
the sentinels agree it is down, promote the replica, and turn the old primary into its replica
when it comes back), on this machine, in seconds. The data servers are ``EmbeddedServer``s (AOF,
``appendfsync always``); a sentinel is the same binary with ``--sentinel`` and a config file of
its own, which it rewrites as it learns the others.
"""

from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.exceptions import RedisError

from sluicegate.embedded.server import EmbeddedServer, poll_until
from sluicegate.errors import EmbeddedServerError

MASTER_NAME = "sluicegate"
DOWN_AFTER_MS = 1000  # a primary silent this long is down for a sentinel
FAILOVER_TIMEOUT_MS = 5000
_QUORUM = 2
_READY_DEADLINE_S = 30.0


class SentinelNode(EmbeddedServer):
    """One sentinel: ``valkey-server sentinel.conf --sentinel`` watching ``monitor``'s port."""

    monitor: int = 0  # the primary's port when the sentinel is first configured

    def command(self) -> list[str]:
        config = self.data_dir / "sentinel.conf"
        if not config.exists():  # a restarted sentinel keeps what it learned
            config.write_text(_sentinel_config(self.port, self.data_dir, self.monitor))
        return [self.binary, str(config.resolve()), "--sentinel"]


def _sentinel_config(port: int, data_dir: Path, primary_port: int) -> str:
    name = MASTER_NAME
    return "\n".join(
        [
            f"port {port}",
            "bind 127.0.0.1",
            f"dir {data_dir.resolve()}",
            f"sentinel monitor {name} 127.0.0.1 {primary_port} {_QUORUM}",
            f"sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {name} 1",
            "",
        ]
    )


def _client(port: int) -> "redis.Redis":
    return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=0.5)


@dataclass
class EmbeddedSentinel:
    """Two data servers (one primary, one replica) and three sentinels in ``data_dir``."""

    data_dir: Path
    servers: list[EmbeddedServer] = field(default_factory=list)
    sentinels: list[SentinelNode] = field(default_factory=list)

    @property
    def addresses(self) -> str:
        """REDIS_SENTINELS for these sentinels."""
        return ",".join(f"127.0.0.1:{node.port}" for node in self.sentinels)

    def start(self) -> "EmbeddedSentinel":
        try:
            primary = EmbeddedServer(self.data_dir / "redis-a").start()
            replica_of = ("--replicaof", "127.0.0.1", str(primary.port))
            replica = EmbeddedServer(self.data_dir / "redis-b", extra_args=replica_of).start()
            self.servers = [primary, replica]
            for number in range(1, 4):
                node = SentinelNode(self.data_dir / f"sentinel-{number}")
                node.monitor = primary.port
                self.sentinels.append(node)
                node.start()
            self.wait_healthy()
        except BaseException:
            self.kill()
            raise
        return self

    def primary(self) -> EmbeddedServer:
        """The data server the sentinels name as the primary now."""
        for sentinel in self.sentinels:
            if sentinel.running:
                try:
                    _, port = self._ask(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME")
                except RedisError:
                    continue
                return next(node for node in self.servers if node.port == int(port))
        raise EmbeddedServerError("no sentinel answers")

    def replicas(self) -> list[EmbeddedServer]:
        primary = self.primary()
        return [node for node in self.servers if node is not primary]

    def rejoin(self, node: EmbeddedServer) -> None:
        """Start a killed data server again as a replica of the primary now (as a deployment's
        start script asks the sentinels first): left to the sentinels, a server back with its
        old role is turned into a replica after their next INFO, 16 s measured here."""
        node.extra_args = ("--replicaof", "127.0.0.1", str(self.primary().port))
        node.start()

    def wait_healthy(self, timeout_s: float = _READY_DEADLINE_S) -> None:
        """Every sentinel names the same running primary and knows the two other sentinels;
        every other running data server replicates from it with its link up."""
        poll_until(self._healthy, timeout_s, "sentinel setup not healthy", self.data_dir)

    def _healthy(self) -> bool:
        named: set[int] = set()
        for sentinel in self.sentinels:
            _, answer = self._ask(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME")
            named.add(int(answer))
            if len(self._ask(sentinel, "SENTINEL", "SENTINELS")) != len(self.sentinels) - 1:
                return False
        if len(named) != 1:
            return False
        [port] = named
        primary = next(node for node in self.servers if node.port == port)
        if not primary.running or _role(primary) != "master":
            return False
        return all(_replicating(node, port) for node in self.servers if node is not primary)

    def _ask(self, sentinel: SentinelNode, *command: str) -> list[bytes]:
        client = _client(sentinel.port)
        try:
            reply: list[bytes] = client.execute_command(*command, MASTER_NAME)  # type: ignore[no-untyped-call]
            return reply
        finally:
            client.close()

    def kill(self) -> None:
        for node in [*self.sentinels, *self.servers]:
            node.kill()


def _role(node: EmbeddedServer) -> str:
    client = _client(node.port)
    try:
        return str(client.info("replication")["role"])
    finally:
        client.close()


def _replicating(node: EmbeddedServer, primary_port: int) -> bool:
    """Running and following ``primary_port`` with its link up (a stopped node does not count)."""
    if not node.running:
        return True
    client = _client(node.port)
    try:
        info = client.info("replication")
    finally:
        client.close()
    return (
        info["role"] == "slave"
        and int(info["master_port"]) == primary_port
        and info["master_link_status"] == "up"
    )
