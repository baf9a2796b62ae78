"""Where Redis is: the server in REDIS_URL, several cluster seeds, or a primary Sentinel watches.

REDIS_URL always carries what every connection needs (user, password, database, ``rediss://``
for TLS with the ``REDIS_TLS_*`` files). Two settings widen where a client looks:

- ``REDIS_CLUSTER_NODES=host:port,…``: seeds of a Redis Cluster. The cluster client asks them in
  turn for the slot map, so a process starts while any of them is down (REDIS_URL's own node,
  measured: a restarted agent never started while the one seed it knew stayed down).
- ``REDIS_SENTINELS=host:port,…`` with ``REDIS_SENTINEL_MASTER=name``: the clients ask the
  sentinels where the primary is, and again after a connection error or a ``READONLY`` reply
  (a failover), so every process follows a failover by itself. REDIS_URL's host is not used.

Both are redis-py's own clients (``RedisCluster(startup_nodes=…)``, ``Sentinel.master_for``);
this module only turns the settings into their arguments.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.connection import parse_url

if TYPE_CHECKING:
    from sluicegate.settings import Settings

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """``REDIS_TLS_*``: a private CA, and the certificate and key for servers that ask for one."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @classmethod
    def of(cls, settings: "Settings") -> "TlsFiles":
        return cls(
            settings.redis_tls_ca_file, settings.redis_tls_cert_file, settings.redis_tls_key_file
        )

    def options(self, url: str) -> dict[str, Any]:
        """redis-py's ``ssl_*`` keywords for ``url``: none unless it is ``rediss://``."""
        if not url.startswith("rediss://"):
            return {}
        given = {
            "ssl_ca_certs": self.ca_file,
            "ssl_certfile": self.cert_file,
            "ssl_keyfile": self.key_file,
        }
        return {name: str(path) for name, path in given.items() if path is not None}


NO_TLS_FILES = TlsFiles()


@dataclass(frozen=True, slots=True)
class Topology:
    """What a client needs besides the URL: TLS files, cluster seeds, or sentinels."""

    tls: TlsFiles = NO_TLS_FILES
    cluster_nodes: tuple[Address, ...] = ()
    sentinels: tuple[Address, ...] = ()
    sentinel_master: str = ""

    @classmethod
    def of(cls, settings: "Settings") -> "Topology":
        return cls(
            TlsFiles.of(settings),
            parse_addresses(settings.redis_cluster_nodes),
            parse_addresses(settings.redis_sentinels),
            settings.redis_sentinel_master or "",
        )

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)

    def startup_nodes(self) -> list[Any]:
        """The seeds as redis-py's ``ClusterNode``s (REDIS_URL's node is added by redis-py)."""
        from redis.cluster import ClusterNode

        return [ClusterNode(host, port) for host, port in self.cluster_nodes]  # type: ignore[no-untyped-call]

    def sentinel_options(self, url: str, options: dict[str, Any]) -> dict[str, Any]:
        """The keywords of a client of the primary: the URL's credentials and database, and
        ``options`` (timeouts, retry, TLS), without the URL's host (the sentinels say it)."""
        given: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        if url.startswith("rediss://"):
            given["ssl"] = True
        for name in ("host", "port", "path", "connection_class"):
            given.pop(name, None)
        return given | options

    def sentinel_kwargs(self, url: str, options: dict[str, Any]) -> dict[str, Any]:
        """The sentinels' own connections: the same timeouts and TLS files, no credentials (a
        sentinel's ACL is its own; redis-py's default too)."""
        mine = {k: v for k, v in options.items() if k.startswith(("socket_", "ssl_"))}
        return mine | ({"ssl": True} if url.startswith("rediss://") else {})


def parse_addresses(text: str) -> tuple[Address, ...]:
    """``h1:6379,h2:6380`` -> ((h1, 6379), (h2, 6380)); ValueError naming the bad item.
    An IPv6 address goes in brackets: ``[::1]:6379``."""
    found: list[Address] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, _, port = item.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not (host and port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError(f"{item!r} is not host:port")
        found.append((host, int(port)))
    return tuple(found)


NO_TOPOLOGY = Topology()
