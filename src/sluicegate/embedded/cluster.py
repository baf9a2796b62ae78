"""A local Valkey cluster (3 primaries + 3 replicas by default) from the embedded binary.

Used by the tests and by ``sluicegate drill --cluster``: real cluster nodes on this machine, so
failover (a primary SIGKILLed, its replica promoted) and slot migration (MIGRATING/IMPORTING +
MIGRATE, clients redirected with ASK and MOVED) are exercised for real. Every node runs with AOF
and ``appendfsync always``, like the single embedded server.
"""

import random
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from sluicegate.embedded.server import EmbeddedServer, find_cli_binary, poll_until
from sluicegate.errors import EmbeddedServerError

NODE_TIMEOUT_MS = 1500
_READY_DEADLINE_S = 30.0
_BUS_OFFSET = 10_000  # the cluster bus listens on port + 10000: ports stay below 55535
# Below Linux's ephemeral range (32768 and up), bus ports included: a client's outgoing connection
# cannot take a node's port between our check and its bind.
_PORT_RANGE = (20_000, 22_700)
_START_ATTEMPTS = 3


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(count: int) -> list[int]:
    """``count`` consecutive ports whose bus ports (port + 10000) are free too."""
    for _ in range(200):
        base = random.randrange(*_PORT_RANGE)
        ports = list(range(base, base + count))
        if all(_is_free(p) and _is_free(p + _BUS_OFFSET) for p in ports):
            return ports
    raise EmbeddedServerError("no free range of ports for a local cluster")


def _client(node: EmbeddedServer) -> "redis.Redis":
    return redis.Redis(port=node.port, socket_timeout=5, socket_connect_timeout=0.5)


def _info(node: EmbeddedServer, section: str) -> dict[str, object]:
    client = _client(node)
    try:
        return dict(client.info(section))
    finally:
        client.close()


def _ask(node: EmbeddedServer, *command: str | int) -> Any:
    client = _client(node)
    try:
        return client.execute_command(*command)  # type: ignore[no-untyped-call]
    finally:
        client.close()


@dataclass
class EmbeddedCluster:
    """The nodes of one local cluster, each an ``EmbeddedServer`` in ``data_dir/node-PORT``."""

    data_dir: Path
    primaries: int = 3
    replicas_per_primary: int = 1
    nodes: list[EmbeddedServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A seed URL: any node will do, clients discover the others."""
        return next(node for node in self.nodes if node.running).url

    def start(self) -> "EmbeddedCluster":
        """Start the nodes and join them; ports another process took meanwhile: try new ones."""
        for attempt in range(1, _START_ATTEMPTS + 1):
            ports = cluster_ports(self.primaries * (1 + self.replicas_per_primary))
            self.nodes = [self._node(port) for port in ports]
            try:
                for node in self.nodes:
                    node.start()
            except EmbeddedServerError:
                self.kill()
                if attempt == _START_ATTEMPTS:
                    raise
                continue
            break
        try:
            self._create()
            self.wait_healthy()
        except BaseException:
            self.kill()
            raise
        return self

    def _node(self, port: int) -> EmbeddedServer:
        # A replica may always take over, however long it was cut off: the drill kills primaries.
        options = (
            *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
            *("--cluster-node-timeout", str(NODE_TIMEOUT_MS)),
            *("--cluster-replica-validity-factor", "0"),
        )
        return EmbeddedServer(self.data_dir / f"node-{port}", port=port, extra_args=options)

    def _create(self) -> None:
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        command = [find_cli_binary(), "--cluster", "create", *addresses]
        command += ["--cluster-replicas", str(self.replicas_per_primary), "--cluster-yes"]
        done = subprocess.run(command, capture_output=True, timeout=60, check=False)
        if done.returncode != 0:
            raise EmbeddedServerError(f"cluster create failed: {done.stdout!r} {done.stderr!r}")

    def wait_healthy(self, timeout_s: float = _READY_DEADLINE_S) -> None:
        """Every running node sees the cluster ok, with all slots; every replica's link is up."""
        poll_until(self._healthy, timeout_s, "cluster not healthy", self.data_dir)

    def _healthy(self) -> bool:
        running = [node for node in self.nodes if node.running]
        for node in running:
            info = _ask(node, "CLUSTER", "INFO")
            text = info.decode() if isinstance(info, bytes) else str(info)
            if "cluster_state:ok" not in text or "cluster_slots_ok:16384" not in text:
                return False
            replication = _info(node, "replication")
            if replication["role"] == "slave" and replication["master_link_status"] != "up":
                return False
        masters = sum(1 for node in running if self.role(node) == "master")
        return masters == self.primaries

    def role(self, node: EmbeddedServer) -> str:
        return str(_info(node, "replication")["role"])

    def node_id(self, node: EmbeddedServer) -> str:
        reply = _ask(node, "CLUSTER", "MYID")
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    def primary_of_slot(self, slot: int) -> EmbeddedServer:
        """The node serving ``slot`` now, as a running node sees it."""
        for start, end, primary, *_ in self._slots():
            if start <= slot <= end:
                return self.by_port(int(primary[1]))
        raise EmbeddedServerError(f"slot {slot} is not served")

    def primary_of_key(self, key: str) -> EmbeddedServer:
        return self.primary_of_slot(key_slot(key))

    def replicas_of(self, primary: EmbeddedServer) -> list[EmbeddedServer]:
        """Running replicas following ``primary``, as they themselves report it."""
        found = []
        for node in self.nodes:
            if node.running and node is not primary:
                info = _info(node, "replication")
                if info["role"] == "slave" and int(str(info["master_port"])) == primary.port:
                    found.append(node)
        return found

    def _slots(self) -> list[list[Any]]:
        for node in self.nodes:
            if node.running:
                try:
                    return list(_ask(node, "CLUSTER", "SLOTS"))
                except RedisConnectionError:
                    continue
        raise EmbeddedServerError("no cluster node is running")

    def by_port(self, port: int) -> EmbeddedServer:
        return next(node for node in self.nodes if node.port == port)

    def migrate_slot(
        self, slot: int, target: EmbeddedServer, pause_s: float = 0.0, batch: int = 1
    ) -> int:
        """Move ``slot`` to ``target`` as ``valkey-cli --cluster reshard`` does, ``batch`` keys
        per MIGRATE with ``pause_s`` between them (so clients meet ASK meanwhile); keys moved."""
        source = self.primary_of_slot(slot)
        if source is target:
            return 0
        source_id, target_id = self.node_id(source), self.node_id(target)
        _ask(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        _ask(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        moved = 0
        while keys := list(_ask(source, "CLUSTER", "GETKEYSINSLOT", slot, batch)):
            _ask(source, "MIGRATE", "127.0.0.1", target.port, "", 0, 10_000, "KEYS", *keys)
            moved += len(keys)
            time.sleep(pause_s)
        for node in (target, source, *self.running_primaries()):
            _ask(node, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
        return moved

    def running_primaries(self) -> list[EmbeddedServer]:
        return [node for node in self.nodes if node.running and self.role(node) == "master"]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()


def key_slot(key: str) -> int:
    """The cluster slot of ``key`` (CRC16 of its hash tag, as every node computes it)."""
    from redis.crc import key_slot as crc_slot

    return int(crc_slot(key.encode()))
