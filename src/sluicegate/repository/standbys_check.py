"""The agent's look at the database's standbys at start: refuse what cannot work, warn of loss.

One connection, closed at once (the agent itself holds none while it runs). With
``DATABASE_REPLICAS=0`` a database that does not answer is not waited for: the consumers wait for
it as usual, and the look is only a warning. With ``DATABASE_REPLICAS`` > 0 the agent must know
the standbys are there, so it waits for the database, as it waits for Redis at start.
"""

import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sluicegate.logs import Logger, Throttle
from sluicegate.settings import Settings

if TYPE_CHECKING:
    from sluicegate.repository.standbys import ReplicationState

_OUTAGE_LOG_PERIOD_S = 30.0


def look_at_standbys(settings: Settings, log: Logger) -> str | None:
    """The warning for the log and /readyz, or None; ``ConfigurationError`` (exit 2) when
    DATABASE_REPLICAS cannot be met."""
    url = settings.resolved_database_url
    if urlsplit(url).scheme not in ("postgresql", "postgres"):
        return None  # SQLite: the preflight refused DATABASE_REPLICAS already
    import psycopg  # here: the agent runs on SQLite without the postgres extra

    from sluicegate.repository.standbys import judge

    wanted = settings.database_replicas
    quiet = Throttle(_OUTAGE_LOG_PERIOD_S)
    while True:
        try:
            state = _read(url)
        except psycopg.Error as error:
            if not wanted:
                log.info("database-standbys-unknown", error=str(error).strip())
                return None
            held = quiet.allow("database")
            if held is not None:
                log.warning("database-unavailable", error=str(error).strip(), held=held)
            time.sleep(settings.queue_poll_freq_s)  # the agent's own pace of looking again
            continue
        warning = judge(state, wanted)
        log.info(
            "database-standbys",
            standbys=state.standbys,
            synchronous=state.synchronous,
            database_replicas=wanted,
        )
        if warning is not None:
            log.warning("database-failover-can-lose", warning=warning)
        return warning


def _read(url: str) -> "ReplicationState":
    import psycopg

    from sluicegate.repository.postgres import with_connect_defaults
    from sluicegate.repository.standbys import read_state

    with psycopg.connect(with_connect_defaults(url), autocommit=True) as conn:
        return read_state(conn)
