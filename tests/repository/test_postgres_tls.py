"""sslmode and the other libpq TLS parameters travel in DATABASE_URL, untouched, to libpq."""

import pytest
from psycopg.conninfo import conninfo_to_dict

from sluicegate.errors import TransientStoreError
from sluicegate.repository.postgres import PostgresRepository, with_connect_defaults

pytestmark = pytest.mark.postgres
TLS_PARAMETERS = {
    "sslmode": "verify-full",
    "sslrootcert": "/etc/ssl/ca.pem",
    "sslcert": "/etc/ssl/client.pem",
    "sslkey": "/etc/ssl/client.key",
}


def test_tls_parameters_pass_through() -> None:
    query = "&".join(f"{key}={value}" for key, value in TLS_PARAMETERS.items())
    conninfo = conninfo_to_dict(with_connect_defaults(f"postgresql://app@db/x?{query}"))
    assert {key: conninfo[key] for key in TLS_PARAMETERS} == TLS_PARAMETERS


def test_sslmode_reaches_libpq(postgres_dsn: str) -> None:
    """libpq itself refuses: the server has no TLS, or (if it has) the root CA file is missing."""
    separator = "&" if "?" in postgres_dsn else "?"
    url = f"{postgres_dsn}{separator}sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"
    repository = PostgresRepository(url)
    try:
        with pytest.raises(TransientStoreError, match=r"SSL|root certificate"):
            repository.count()
    finally:
        repository.close()
