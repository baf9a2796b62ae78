"""Redis behind a password or TLS, for tests: an ACL user on the embedded Valkey, and Debian's
``redis-server`` (built with TLS, unlike the wheel's Valkey) with a CA and certificates made here.
"""

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from sluicegate.embedded.server import EmbeddedServer, free_port
from tests.waiting import wait_for

# What sluicegate needs of an ACL user (documented in the README): its own keys, every command
# but the dangerous ones, and INFO (`INFO persistence` for durability, `INFO cluster`).
ACL_RULES = ("on", "resetkeys", "~sluicegate:*", "resetchannels", "+@all", "-@dangerous", "+info")
ACL_USER = "sluicegate"
TLS_SERVER = "/usr/bin/redis-server"


@dataclass(frozen=True)
class AclRedis:
    server: EmbeddedServer
    user_password: str

    @property
    def admin_password(self) -> str:
        assert self.server.password is not None
        return self.server.password

    @property
    def url(self) -> str:
        """The URL sluicegate gets: the limited ACL user, not the default user."""
        return f"redis://{ACL_USER}:{self.user_password}@127.0.0.1:{self.server.port}/0"


@contextmanager
def acl_redis(folder: Path) -> Iterator[AclRedis]:
    """Embedded Valkey with --requirepass, plus an ACL user limited to ``~sluicegate:*``."""
    server = EmbeddedServer(folder, password=secrets.token_hex(16)).start()
    try:
        user_password = secrets.token_hex(16)
        admin = redis.Redis.from_url(server.url)
        admin.acl_setuser(ACL_USER, enabled=True, reset=True, passwords=[f"+{user_password}"])
        admin.execute_command("ACL", "SETUSER", ACL_USER, *ACL_RULES)
        admin.close()
        yield AclRedis(server, user_password)
    finally:
        server.kill()


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)


def _signed(folder: Path, name: str, extension: str) -> None:
    """An EC key and a certificate for it signed by ``ca``."""
    (folder / f"{name}.ext").write_text(extension + "\n")
    _openssl(folder, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key")
    subject = f"/CN={name}"
    _openssl(folder, "req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr")
    _openssl(
        folder, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
    )  # fmt: skip


def make_certificates(folder: Path) -> Certificates:
    """A private CA, a server certificate for 127.0.0.1 and a client certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        folder, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test-ca",
    )  # fmt: skip
    _signed(folder, "server", "subjectAltName=IP:127.0.0.1")
    _signed(folder, "client", "extendedKeyUsage=clientAuth")
    return Certificates(
        folder / "ca.crt",
        folder / "server.crt",
        folder / "server.key",
        folder / "client.crt",
        folder / "client.key",
    )


@dataclass
class TlsRedis:
    certificates: Certificates
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"

    def env(self) -> dict[str, str]:
        """What sluicegate needs to reach it: the URL, the CA, the client certificate and key."""
        return {
            "REDIS_URL": self.url,
            "REDIS_TLS_CA_FILE": str(self.certificates.ca),
            "REDIS_TLS_CERT_FILE": str(self.certificates.client_cert),
            "REDIS_TLS_KEY_FILE": str(self.certificates.client_key),
        }

    def client(self) -> "redis.Redis":
        return redis.Redis.from_url(
            self.url,
            ssl_ca_certs=str(self.certificates.ca),
            ssl_certfile=str(self.certificates.client_cert),
            ssl_keyfile=str(self.certificates.client_key),
        )


def _answers(server: TlsRedis) -> bool:
    client = server.client()
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


@contextmanager
def tls_redis(folder: Path) -> Iterator[TlsRedis]:
    """Debian's redis-server on TLS only (no plain port), client certificates required."""
    if not Path(TLS_SERVER).exists():
        pytest.skip(f"{TLS_SERVER} is not installed (apt-get install redis-server)")
    certificates = make_certificates(folder / "certs")
    port = free_port()
    data = folder / "data"
    data.mkdir()
    log = (folder / "server.log").open("ab")
    command = [
        TLS_SERVER, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
        "--tls-cert-file", str(certificates.server_cert),
        "--tls-key-file", str(certificates.server_key),
        "--tls-ca-cert-file", str(certificates.ca), "--tls-auth-clients", "yes",
        "--dir", str(data), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
        "--daemonize", "no",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    server = TlsRedis(certificates, port, process)
    try:
        wait_for(lambda: _answers(server), timeout_s=15, message="the TLS server")
        yield server
    finally:
        process.kill()
        process.wait(timeout=10)
