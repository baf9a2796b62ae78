"""A destination whose database refuses connections backs off alone (issue 19): the agent, with
one consumer, keeps serving the other destination at once, shows whose backoff runs, and the
refusing one catches up once it lets connections in.

The refusal is real: a role of the machine's PostgreSQL with ``CONNECTION LIMIT 0`` ("too many
connections for role", SQLSTATE 53300, as "too many clients"), lifted by ``ALTER ROLE``.
"""

import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import make_conninfo

from sluicegate.queue.stats import snapshot
from tests.in_process import run_in_process
from tests.loading import enqueue, make_events
from tests.postgres_server import private_schema, with_search_path
from tests.waiting import wait_for
from tests.worker.test_destinations import ids_in

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@contextmanager
def refusing_role(dsn: str) -> Iterator[tuple[str, str, str]]:
    """A schema and a role that may write there but may not connect yet; (the role's URL, the
    role, the schema's URL for the test's own reads)."""
    role = f"sg_refuse_{uuid.uuid4().hex[:8]}"
    with private_schema(dsn) as schema_url, psycopg.connect(dsn, autocommit=True) as admin:
        schema = schema_url.rsplit("search_path%3D", 1)[1]
        admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
        try:
            admin.execute(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{role}"')
            yield with_search_path(make_conninfo(dsn, user=role), schema), role, schema_url
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def lags(client) -> dict[str, float]:
    lanes = snapshot(client, "q", destinations=["good", "bad"]).lanes
    return {lane.destination: lane.oldest_age_s for lane in lanes}


def refusals(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "sluicegate_database_refusals":
            return {sample.labels["destination"]: sample.value for sample in family.samples}
    return {}


def test_a_refusing_destination_backs_off_alone(
    postgres_dsn, redis_client, settings, subprocess_env, start_agent, tmp_path
):
    with refusing_role(postgres_dsn) as (bad_url, role, schema_url):
        good = tmp_path / "good.db"
        (tmp_path / "destinations.toml").write_text(
            f'[destinations.good]\nkind = "sql"\nurl = "sqlite:///{good}"\n'
            f'[destinations.bad]\nkind = "sql"\nurl = "{bad_url}"\n'
        )
        env = {"DESTINATIONS_FILE": str(tmp_path / "destinations.toml"), "MAX_CONSUMERS": "1"}
        ids = set(enqueue(settings.redis_url, make_events("q", 200)))
        agent = start_agent(**env)
        try:
            _good_stores_while_bad_backs_off(agent, good, ids, {**subprocess_env, **env})
            # More events while bad backs off: the one consumer stores them into good at once.
            ids |= set(enqueue(settings.redis_url, make_events("q", 200)))
            worst_good = _worst_lag_until_stored(redis_client, good, ids)
            lag_bad = lags(redis_client)["bad"]
            assert snapshot(redis_client, "q", destinations=["bad"]).lanes[0].persisted == 0
            with psycopg.connect(postgres_dsn, autocommit=True) as admin:
                admin.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT -1')
            wait_for(lambda: stored_ids(schema_url) == ids, timeout_s=30, message="bad's catch-up")
            agent.signal(signal.SIGTERM)
            assert agent.wait() == 0
        finally:
            agent.close()  # before the role is dropped
    print(f"lag while bad refused: bad {lag_bad:.2f} s, good at worst {worst_good:.2f} s")
    assert worst_good < lag_bad / 2
    for lane in snapshot(redis_client, "q", destinations=["good", "bad"]).lanes:
        assert (lane.queued, lane.in_flight, lane.persisted, lane.unaccounted) == (0, 0, 400, 0)
    assert redis_client.xlen("sluicegate:{q}:events") == 0  # both have everything: trimmed


def _good_stores_while_bad_backs_off(agent, good: Path, ids: set[str], env: dict[str, str]) -> None:
    """Good gets everything; bad's backoff alone grows, and status names it."""
    wait_for(lambda: ids_in(good) == ids, timeout_s=30, message="good, while bad refuses")
    port = agent.first("agent-started")["http_port"]
    wait_for(lambda: refusals(port).get("bad", 0) >= 2, timeout_s=20, message="bad refused")
    assert refusals(port)["good"] == 0

    def status_naming_bad() -> str | None:
        """A note is shown while its wait lasts; between two waits (the next refusal), none is."""
        shown = " ".join(run_in_process(env, "status").stdout.split())  # rich wraps the line
        return shown if "database backoff: destination bad:" in shown else None

    assert "too many connections" in wait_for(status_naming_bad, message="status to name bad")


def _worst_lag_until_stored(redis_client, good: Path, ids: set[str]) -> float:
    """Good's worst lag, sampled until it has ``ids``."""
    seen: list[float] = []

    def stored() -> bool:
        seen.append(lags(redis_client)["good"])
        return ids_in(good) == ids

    wait_for(stored, timeout_s=30, message="good to store the second batch")
    return max(seen)


def stored_ids(schema_url: str) -> set[str]:
    """The ids in bad's table, read with plain SQL: a repository would also make the schema,
    racing the consumer's own first connection for its locks (seen: a wait past the timeout)."""
    with psycopg.connect(schema_url, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '5s'")
        try:
            rows = conn.execute("SELECT event_id FROM events WHERE queue = 'q'").fetchall()
        except psycopg.errors.UndefinedTable:
            return set()  # the consumer has not made it yet
    return {str(row[0]) for row in rows}
