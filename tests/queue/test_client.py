"""Clients from URLs: an ACL user's password, TLS with a private CA and a client certificate.

The TLS server is Debian's redis-server (the wheel's Valkey has no TLS), shared by the module.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sluicegate.errors import ConfigurationError
from sluicegate.queue.client import async_client, sync_client
from sluicegate.queue.topology import NO_TLS_FILES, TlsFiles, Topology
from sluicegate.queue.writer import DurabilityMode, detect_durability
from sluicegate.settings import load_settings
from tests.secure_redis import AclRedis, TlsRedis, acl_redis, tls_redis


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    with tls_redis(tmp_path_factory.mktemp("tls")) as server:
        yield server


@pytest.fixture
def acl_server(tmp_path: Path) -> Iterator[AclRedis]:
    with acl_redis(tmp_path / "acl") as server:
        yield server


def tls_files(server: TlsRedis) -> TlsFiles:
    certs = server.certificates
    return TlsFiles(certs.ca, certs.client_cert, certs.client_key)


def test_sync_and_async_clients_speak_tls(tls_server: TlsRedis) -> None:
    client = sync_client(tls_server.url, topology=Topology(tls_files(tls_server)))
    try:
        assert client.ping()
        assert client.set("sluicegate:probe", "1")
    finally:
        client.close()

    async def ping() -> bool:
        aclient = async_client(tls_server.url, topology=Topology(tls_files(tls_server)))
        try:
            return bool(await aclient.ping())
        finally:
            await aclient.aclose()

    assert asyncio.run(ping())


def test_tls_without_the_ca_or_the_client_certificate_is_refused(tls_server: TlsRedis) -> None:
    certs = tls_server.certificates
    for tls in (NO_TLS_FILES, TlsFiles(ca_file=certs.ca)):
        with pytest.raises(redis.ConnectionError):
            sync_client(tls_server.url, topology=Topology(tls), cluster="no").ping()


def test_tls_files_apply_to_rediss_only() -> None:
    tls = TlsFiles(Path("/ca.pem"), Path("/c.pem"), Path("/k.pem"))
    assert tls.options("redis://h:1/0") == {}
    assert tls.options("rediss://h:1/0") == {
        "ssl_ca_certs": "/ca.pem",
        "ssl_certfile": "/c.pem",
        "ssl_keyfile": "/k.pem",
    }
    assert TlsFiles(ca_file=Path("/ca.pem")).options("rediss://h") == {"ssl_ca_certs": "/ca.pem"}


def test_tls_settings_are_checked(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("x")
    with pytest.raises(ConfigurationError, match="must start with rediss://"):
        load_settings(redis_url="redis://h:1/0", redis_tls_ca_file=pem)
    with pytest.raises(ConfigurationError, match="REDIS_TLS_KEY_FILE needs REDIS_TLS_CERT_FILE"):
        load_settings(redis_url="rediss://h:1/0", redis_tls_key_file=pem)
    with pytest.raises(ConfigurationError, match="REDIS_TLS_CA_FILE"):
        load_settings(redis_url="rediss://h:1/0", redis_tls_ca_file=tmp_path / "missing.pem")
    settings = load_settings(redis_url="rediss://h:1/0", redis_tls_ca_file=pem)
    assert TlsFiles.of(settings) == TlsFiles(ca_file=pem)


def test_a_bad_url_setting_is_reported_without_its_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(redis_url="redis://u:hunter2@h:1/0", redis_tls_ca_file="/nonexistent")
    assert "hunter2" not in str(caught.value)


def test_the_acl_user_reaches_its_keys_and_nothing_else(acl_server: AclRedis) -> None:
    client = sync_client(acl_server.url)
    try:
        assert client.set("sluicegate:probe", "1")
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("other:key", "1")
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.flushall()
    finally:
        client.close()
    wrong = acl_server.url.replace(acl_server.user_password, "wrong")
    with pytest.raises(redis.exceptions.AuthenticationError):
        sync_client(wrong, cluster="no").ping()


def test_durability_is_detected_as_the_acl_user(acl_server: AclRedis) -> None:
    """CONFIG is refused to the user (dangerous); INFO and WAITAOF are enough."""

    async def detect() -> DurabilityMode:
        client = async_client(acl_server.url)
        try:
            return await detect_durability(client, "aof")
        finally:
            await client.aclose()

    assert asyncio.run(detect()) is DurabilityMode.WAITAOF
