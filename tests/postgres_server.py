"""PostgreSQL for tests: the machine's server (a schema per test) or a private one we can stop.

The machine's server is never stopped by a test. A test that needs an outage gets a private
instance made with initdb and run with pg_ctl on a free port, as the ``postgres`` OS user when the
tests run as root (PostgreSQL refuses to run as root).
"""

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from sluicegate.drill.pg_pair import StandbyPair
from sluicegate.drill.pg_server import PrivatePostgres, find_binaries, owned_folder
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


def configured_dsn() -> str:
    """SLUICEGATE_TEST_POSTGRES_DSN, else the local ``test`` database (tests and benches)."""
    return os.environ.get("SLUICEGATE_TEST_POSTGRES_DSN", DEFAULT_DSN)


def reachable_dsn() -> str:
    dsn = configured_dsn()
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
    if "," in params.get("host", ""):  # several hosts: libpq reads them all from the query
        dbname = quote(params.pop("dbname", ""), safe="")
        return f"postgresql:///{dbname}?{urlencode(params, quote_via=quote)}"
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
    base_dir = owned_folder(Path(tempfile.mkdtemp(prefix="sluicegate-pg-")))
    server = PrivatePostgres(bin_dir, base_dir, free_port(), extra_settings).init()
    try:
        server.start()
        yield server
    finally:
        if server.is_running():
            server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


@contextmanager
def standby_pair() -> Iterator[StandbyPair]:
    """A private primary with a streaming standby (``sluicegate.drill.pg_pair``), removed after."""
    if find_binaries() is None:
        require_or_skip(
            "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found; "
            "install the postgresql package to run the standby tests"
        )
    base_dir = owned_folder(Path(tempfile.mkdtemp(prefix="sluicegate-pair-")))
    pair = StandbyPair(base_dir)
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()
        shutil.rmtree(base_dir, ignore_errors=True)
