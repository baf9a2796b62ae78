"""PostgreSQL for tests: the machine's server (a schema per test) or a private one we can stop.

The machine's server is never stopped by a test. A test that needs an outage gets a private
instance made with initdb and run with pg_ctl on a free port, as the ``postgres`` OS user when the
tests run as root (PostgreSQL refuses to run as root).
"""

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from sluicegate.embedded.server import free_port

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ENABLE_HINT = (
    "set SLUICEGATE_TEST_POSTGRES_DSN=postgresql://user@host:port/db (a database the tests may "
    "create schemas in) or start PostgreSQL on 127.0.0.1:5432 with a `test` database"
)


def require_or_skip(reason: str) -> None:
    """Skip, unless SLUICEGATE_REQUIRE_POSTGRES=1 (CI) turns the skip into a failure."""
    if os.environ.get("SLUICEGATE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"SLUICEGATE_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def reachable_dsn() -> str:
    dsn = os.environ.get("SLUICEGATE_TEST_POSTGRES_DSN", DEFAULT_DSN)
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        require_or_skip(f"PostgreSQL unreachable at {dsn} ({first_line}); {ENABLE_HINT}")
    return dsn


def with_search_path(dsn: str, schema: str) -> str:
    """A postgresql:// URL (usable as DATABASE_URL) whose sessions default to ``schema``."""
    params = {key: str(value) for key, value in conninfo_to_dict(dsn).items()}
    params["options"] = f"{params.get('options', '')} -c search_path={schema}".strip()
    user = quote(params.pop("user", ""), safe="")
    password = params.pop("password", "")
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    host, port = params.pop("host", ""), params.pop("port", "")
    dbname = quote(params.pop("dbname", ""), safe="")
    netloc = f"{auth}{host}{':' + port if port else ''}"
    return f"postgresql://{netloc}/{dbname}?{urlencode(params, quote_via=quote)}"


@contextmanager
def private_schema(dsn: str) -> Iterator[str]:
    """A fresh schema, dropped afterwards; yields a DSN whose search_path points into it."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(dsn, schema)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def find_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


@dataclass
class PrivatePostgres:
    """One initdb'd cluster in its own folder; ``stop`` and ``start`` simulate an outage."""

    bin_dir: Path
    base_dir: Path
    port: int
    extra_settings: dict[str, str] = field(default_factory=dict)  # e.g. max_connections

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, str(self.bin_dir / tool), *args],
            check=True,
            capture_output=True,
            timeout=60,
            cwd=self.base_dir,
        )

    def init(self) -> "PrivatePostgres":
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        return self

    def start(self) -> None:
        # fsync off: a test instance, and restarts must be quick. Sockets stay in our folder.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        ) + "".join(f" -c {name}={value}" for name, value in self.extra_settings.items())
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "30",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.base_dir / "server.log"),
            "-o",
            options,
        )

    def stop(self) -> None:
        """Fast shutdown: open sessions are terminated (the clients see admin_shutdown)."""
        self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", "fast", "-D", str(self.data_dir))

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()


@contextmanager
def private_postgres(**extra_settings: str) -> Iterator[PrivatePostgres]:
    """Init and start a private cluster; always stopped and removed afterwards."""
    bin_dir = find_binaries()
    if bin_dir is None:
        require_or_skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; "
            "install the postgresql package to run the outage tests"
        )
        raise AssertionError("unreachable")
    base_dir = Path(tempfile.mkdtemp(prefix="sluicegate-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base_dir, user="postgres", group="postgres")
    server = PrivatePostgres(bin_dir, base_dir, free_port(), extra_settings).init()
    try:
        server.start()
        yield server
    finally:
        if server.is_running():
            server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)
