"""Typed settings, read once from the environment (the original service's variable names)."""

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    FilePath,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from sluicegate.errors import ConfigurationError
from sluicegate.masking import mask_url
from sluicegate.queue.topology import parse_addresses
from sluicegate.retention import (
    RetentionPolicy,
    parse_duration_s,
    parse_queue_durations,
)

# What people type, mapped onto the one spelling the code uses.
_ALIASES = {"warn": "warning"}


def _choice(value: object) -> object:
    """Enumerated settings are case-insensitive (``LOG_LEVEL=INFO``) and know common aliases."""
    if not isinstance(value, str):
        return value
    lowered = value.strip().lower()
    return _ALIASES.get(lowered, lowered)


Durability = Annotated[Literal["aof", "auto", "none"], BeforeValidator(_choice)]
LogLevel = Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_choice)]
LogFormat = Annotated[Literal["auto", "json", "console"], BeforeValidator(_choice)]
ApiAuth = Annotated[Literal["tokens", "none"], BeforeValidator(_choice)]
ClusterMode = Annotated[Literal["auto", "yes", "no"], BeforeValidator(_choice)]
PostgresWrite = Annotated[
    Literal["arrays", "json", "copy", "executemany"], BeforeValidator(_choice)
]
PostgresPayload = Annotated[Literal["json", "jsonb"], BeforeValidator(_choice)]

MIB = 1024 * 1024
# QUEUE_CONSUMERS when unset on PostgreSQL: while one consumer's batch is on the server, the other
# reads and decodes the next (docs/scaling.md, "Consumers per queue on PostgreSQL").
POSTGRES_QUEUE_CONSUMERS = 2


def _env(*names: str) -> AliasChoices:
    """The variables of a field whose variable is not its name in upper case (QUEUE_BATCH_TIMEOUT
    sets ``queue_batch_timeout_s``): the documented variable first, then the field's own name."""
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every knob of sluicegate. Durations are float seconds; names end in ``_s``.

    A field is set by the variable of its name in upper case (``port``: PORT; pydantic-settings
    matches names case-insensitively); only the fields named otherwise list theirs (``_env``).
    ``sluicegate config`` and the README's table show every field's variable."""

    model_config = SettingsConfigDict(
        case_sensitive=False, populate_by_name=True, extra="ignore", frozen=True
    )

    log_level: LogLevel = Field(
        "info",
        description="Least severe log level printed: debug, info, warning (alias warn) or error, "
        "any case. Logs are JSON lines {level, time, command, payload} on stderr.",
    )
    log_format: LogFormat = Field(
        "auto",
        description="json: JSON lines {level, time, command, payload}; console: readable, "
        "coloured lines (plain tracebacks); auto: console when stderr is a terminal, else json.",
    )
    host: str = Field(
        "127.0.0.1",
        description="Address the API listens on; the default answers this machine only.",
    )
    port: int = Field(
        8000,
        ge=0,
        le=65535,
        description="TCP port the API listens on; 0 picks any free port.",
    )

    redis_url: str | None = Field(
        None,
        description="Redis to use (redis://[user:password@]host:port/db). Unset, with REDIS_HOST "
        "unset too: the embedded Valkey that `sluicegate up` starts in SLUICEGATE_DATA_DIR/redis.",
    )
    redis_host: str | None = Field(
        None,
        description="Redis host, used with REDIS_PORT when REDIS_URL is unset.",
    )
    redis_port: int = Field(
        6379,
        ge=1,
        le=65535,
        description="Redis port, used with REDIS_HOST when REDIS_URL is unset.",
    )
    redis_cluster: ClusterMode = Field(
        "auto",
        description="Redis Cluster: auto asks the server (INFO cluster) and uses the cluster "
        "client where cluster mode is on; yes or no override the question.",
    )
    redis_cluster_nodes: str = Field(
        "",
        description="Seeds of a Redis Cluster, host:port,host:port,... (credentials and TLS "
        "from REDIS_URL): a process starts while any of them is down. Implies REDIS_CLUSTER=yes.",
    )
    redis_sentinels: str = Field(
        "",
        description="Redis Sentinels, host:port,host:port,...: clients ask them where the "
        "primary REDIS_SENTINEL_MASTER is and follow a failover (credentials, database and TLS "
        "from REDIS_URL, whose host is not used).",
    )
    redis_sentinel_master: str = Field(
        "",
        description="The name the sentinels know the primary by (sentinel monitor NAME ...); "
        "needed with REDIS_SENTINELS.",
    )
    redis_tls_ca_file: FilePath | None = Field(
        None,
        description="PEM file of the CA that signed the Redis server's certificate, for a "
        "rediss:// REDIS_URL with a private CA (unset: the system's CAs).",
    )
    redis_tls_cert_file: FilePath | None = Field(
        None,
        description="PEM client certificate for a rediss:// server that asks for one "
        "(tls-auth-clients yes).",
    )
    redis_tls_key_file: FilePath | None = Field(
        None,
        description="PEM private key of REDIS_TLS_CERT_FILE (unset: the key is in that file).",
    )
    database_url: str | None = Field(
        None,
        description="Where events are persisted: sqlite:///relative.db, sqlite:////absolute.db "
        "or postgresql://… (needs the postgres extra). Unset: SQLite at SQLITE_FILEPATH.",
    )
    sqlite_filepath: Path | None = Field(
        None,
        description="SQLite file used when DATABASE_URL is unset; its folder is created. "
        "Unset: SLUICEGATE_DATA_DIR/events.db.",
    )
    data_dir: Path = Field(
        Path(".sluicegate"),
        validation_alias=_env("SLUICEGATE_DATA_DIR", "data_dir"),
        description="Folder of the embedded data: Valkey's AOF, its URL file, the default SQLite.",
    )

    queue_batch_size: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Events a consumer claims and persists at once (one transaction).",
    )
    queue_batch_timeout_s: float = Field(
        0.5,
        gt=0,
        le=60,
        validation_alias=_env("QUEUE_BATCH_TIMEOUT", "queue_batch_timeout_s"),
        description="Seconds a consumer's read waits for events; also bounds how fast it sees "
        "a stop.",
    )
    queue_batch_linger_s: float = Field(
        0.02,
        ge=0,
        le=1,
        validation_alias=_env("QUEUE_BATCH_LINGER", "queue_batch_linger_s"),
        description="Seconds a consumer that has caught up waits after a batch smaller than "
        "QUEUE_BATCH_SIZE before it reads again, so that the next batch holds more events: "
        "less CPU per event, at most that much more latency. 0: read again at once. Capped at "
        "QUEUE_BATCH_TIMEOUT.",
    )
    queue_poll_freq_s: float = Field(
        1.0,
        gt=0,
        le=300,
        validation_alias=_env("QUEUE_POLL_FREQ", "queue_poll_freq_s"),
        description="Seconds between the agent's looks for queues with work.",
    )
    queue_agent_worker_ttl_s: float = Field(
        15.0,
        ge=1,
        le=3600,
        validation_alias=_env("QUEUE_AGENT_WORKER_TTL", "queue_agent_worker_ttl_s"),
        description="Seconds a consumer's lock lives without a heartbeat (sent every third of "
        "it); idle consumers exit after it; pending entries idle this long are reclaimed.",
    )
    shutdown_deadline_s: float = Field(
        8.0,
        gt=0,
        le=600,
        validation_alias=_env("SHUTDOWN_DEADLINE", "shutdown_deadline_s"),
        description="Seconds the agent waits for its consumers after SIGTERM before SIGKILL "
        "(the default stays below Docker's 10 s).",
    )
    queue_max_depth: int = Field(
        1_000_000,
        ge=1,
        description="Events a queue may hold that its slowest destination has still to store; "
        "above it the API answers 429 with Retry-After.",
    )
    queue_entry_packing: bool = Field(
        True,
        description="The events of one request in one stream entry (Redis's work per request, "
        "not per event). Turn it off while consumers older than 0.5, which read one event an "
        "entry, still run (a rolling upgrade from 0.4; README, Configuration).",
    )
    dead_letter_after: int = Field(
        5,
        ge=1,
        le=1000,
        description="Deliveries of an event the database refuses before it is dead-lettered.",
    )
    durability: Durability = Field(
        "auto",
        description="auto (WAITAOF when the server has AOF, else fsync-always or memory), "
        "aof (refuse to start without it) or none; any case.",
    )
    durability_replicas: int = Field(
        0,
        ge=0,
        le=16,
        description="Replicas that must fsync an event too before its 202 (WAITAOF 1 N): "
        "with 1, a 202 survives the loss of the primary's host. The API refuses to start when "
        "a primary has fewer replicas, or the server has no WAITAOF.",
    )
    durability_timeout_s: float = Field(
        5.0,
        gt=0,
        le=60,
        validation_alias=_env("DURABILITY_TIMEOUT", "durability_timeout_s"),
        description="Seconds WAITAOF may take before the API answers 503.",
    )
    embedded_redis_maxmemory: str = Field(
        "auto",
        description="maxmemory of the embedded Valkey that `sluicegate up` starts: bytes, or "
        "with a unit (512mb, 2gb), or auto: a quarter of the memory this host (or its cgroup) "
        "has, so that an AOF rewrite's copy-on-write (up to twice the data) still leaves half "
        "for the API, the consumers and the database.",
    )
    redis_memory_high_water: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Fraction of a Redis node's maxmemory from which a POST to a queue on that "
        "node answers 503 queue-store-full (Retry-After) instead of growing it; the room "
        "above is the consumers' to drain. Read from INFO memory at most once a second.",
    )
    api_workers: int = Field(
        1,
        ge=1,
        le=256,
        description="API processes serving the one port (HOST:PORT); SIGTERM drains them all. "
        "About one per core: each process uses one.",
    )
    api_drain_delay_s: float = Field(
        0.0,
        ge=0,
        le=60,
        validation_alias=_env("API_DRAIN_DELAY", "api_drain_delay_s"),
        description="Seconds the API keeps answering 503 on /readyz after SIGTERM before it "
        "closes (time for a load balancer to notice); 0: close at once.",
    )
    max_body_bytes: int = Field(
        MIB,
        ge=1024,
        description="Largest request body in bytes (413 above it).",
    )
    max_batch_events: int = Field(
        1000,
        ge=1,
        description="Most events in one batch request (413 above it).",
    )
    max_event_bytes: int = Field(
        64 * 1024,
        ge=64,
        description="Largest single event in bytes, as JSON (413 above it).",
    )
    api_keep_alive_timeout_s: float = Field(
        5.0,
        gt=0,
        le=600,
        validation_alias=_env("API_KEEP_ALIVE_TIMEOUT", "api_keep_alive_timeout_s"),
        description="Seconds an idle keep-alive connection stays open between requests "
        "(uvicorn's timeout_keep_alive, rounded up to whole seconds).",
    )
    api_header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        validation_alias=_env("API_HEADER_TIMEOUT", "api_header_timeout_s"),
        description="Seconds a request line and headers may take to arrive; slower (slow-loris) "
        "or silent connections get 408 and are closed.",
    )
    api_send_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        validation_alias=_env("API_SEND_TIMEOUT", "api_send_timeout_s"),
        description="Seconds a response may wait for a client that reads nothing before its "
        "connection is dropped.",
    )
    api_max_header_bytes: int = Field(
        16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest request line plus headers, in bytes; above it 431 and the "
        "connection closes.",
    )
    api_limit_concurrency: int = Field(
        1000,
        ge=1,
        description="Connections (and requests) the API holds at once; beyond it uvicorn answers "
        "503 at once instead of queueing.",
    )
    api_tokens_file: Path | None = Field(
        None,
        description="TOML file of the API's bearer tokens (name, sha256, queue glob patterns); "
        "re-read on SIGHUP. Unset: no authentication (loopback HOST only, unless API_AUTH=none).",
    )
    webhooks_file: Path | None = Field(
        None,
        description="TOML file of the queues that take webhooks on /v1/webhooks/{queue} and how "
        "each is verified (github, standard-webhooks, none; secrets); re-read on SIGHUP.",
    )
    schemas_file: Path | None = Field(
        None,
        validation_alias=_env("SCHEMAS_FILE", "schemas_file"),
        description="TOML file of schema contracts: per queue (glob patterns) a JSON Schema file "
        "and a mode (reject: 422; quarantine: accepted into the dead letters); re-read on SIGHUP.",
    )
    api_auth: ApiAuth = Field(
        "tokens",
        description="'none': the API may serve a non-loopback HOST without API_TOKENS_FILE "
        "(protected mode refuses to start otherwise).",
    )

    agent_host: str = Field(
        "127.0.0.1",
        description="Address the agent's /livez, /readyz and /metrics listen on.",
    )
    agent_port: int = Field(
        9464,
        ge=0,
        le=65535,
        description="Port of the agent's HTTP endpoints; 0 picks a free one (logged).",
    )
    max_consumers: int = Field(
        default_factory=lambda: 2 * (os.cpu_count() or 1),
        ge=1,
        le=4096,
        description="Consumer processes an agent runs at most; each serves queues in turn.",
    )
    queue_consumers: int = Field(
        1,
        ge=1,
        le=256,
        description="Consumers one queue may have at once, across all agents (its lock slots). "
        "Unset: 2 with a PostgreSQL DATABASE_URL and no DESTINATIONS_FILE, else 1.",
    )
    queue_share_batches: int = Field(
        8,
        ge=1,
        le=10_000,
        description="Batches a consumer takes from a queue (times its weight) before moving on.",
    )
    queue_weights: str = Field(
        "",
        description="Weights of queues' fair shares, 'orders:5,audit:1'; unnamed queues weigh 1.",
    )
    postgres_write: PostgresWrite = Field(
        "arrays",
        description="How a batch is written: arrays (one statement; fastest, PgBouncer-safe), "
        "json (one statement over a JSON document), copy or executemany.",
    )
    postgres_payload: PostgresPayload = Field(
        "json",
        description="Type of the payload column in the tables sluicegate makes: json (the text "
        "as accepted, checked, not rebuilt) or jsonb (parsed: GIN indexes and jsonb operators "
        "on it, about twice the server's CPU an event with 2 KB payloads). A table made before "
        "keeps its type.",
    )
    database_replicas: int = Field(
        0,
        ge=0,
        le=16,
        description="PostgreSQL standbys that must have flushed a batch before it is "
        "acknowledged in Redis: with 1, a failover to a standby loses nothing. Needs pg_monitor; "
        "the agent refuses to start with fewer standbys connected, or on SQLite.",
    )
    database_replicas_timeout_s: float = Field(
        1.0,
        gt=0,
        le=60,
        validation_alias=_env("DATABASE_REPLICAS_TIMEOUT", "database_replicas_timeout_s"),
        description="Seconds a batch waits for its standbys; then it stays pending (not "
        "acknowledged) and is written again after a backoff. Keep it below the heartbeat "
        "interval (QUEUE_AGENT_WORKER_TTL / 3).",
    )

    retention: str = Field(
        "forever",
        validation_alias=_env("RETENTION", "retention"),
        description="How long stored events are kept (30s, 15m, 36h, 7d) before `sluicegate "
        "maintain` expires them; forever (the default) keeps them.",
    )
    queue_retention: str = Field(
        "",
        validation_alias=_env("QUEUE_RETENTION", "queue_retention"),
        description="Per-queue RETENTION overrides, 'clicks:7d,orders:400d' (forever allowed).",
    )
    dedup_window: str = Field(
        "7d",
        validation_alias=_env("DEDUP_WINDOW", "dedup_window"),
        description="An event id is stored at most once for this long after it was first "
        "stored or deleted (and as long as its event exists), whatever the retention.",
    )

    crash_backoff_initial_s: float = Field(
        1.0,
        gt=0,
        le=60,
        validation_alias=_env("CRASH_BACKOFF_INITIAL", "crash_backoff_initial_s"),
        description="Seconds a queue is left alone after a consumer died serving it; doubles "
        "at each crash in a row (jittered) up to CRASH_BACKOFF_MAX.",
    )
    crash_backoff_max_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        validation_alias=_env("CRASH_BACKOFF_MAX", "crash_backoff_max_s"),
        description="Longest wait before a crash-looping queue is tried again; a visit of the "
        "queue that ends normally resets it.",
    )

    destinations_file: Path | None = Field(
        None,
        description="TOML file of the destinations (sql, delta) and which queues deliver to "
        "which (glob patterns); each destination reads the queue with its own consumer group. "
        "Unset: one destination, sql over DATABASE_URL.",
    )

    consumer_class: str = Field(
        "sluicegate.worker.visit:QueueVisit",
        description="module:Class of the QueueVisit subclass the agent runs (like rq's "
        "--worker-class); tests inject deliberately broken consumers with it. "
        "Leave it unset in production.",
    )

    @model_validator(mode="before")
    @classmethod
    def _consumers_per_queue(cls, data: object) -> object:
        """QUEUE_CONSUMERS unset on PostgreSQL: two consumers per queue, so that one batch is on
        the server while the next is read. Not with DESTINATIONS_FILE (other kinds of
        destination share the setting) nor on SQLite (one writer at a time)."""
        if not isinstance(data, dict) or "queue_consumers" in data or data.get("destinations_file"):
            return data
        scheme = str(data.get("database_url") or "").partition("://")[0]
        if scheme in ("postgresql", "postgres"):
            return {**data, "queue_consumers": POSTGRES_QUEUE_CONSUMERS}
        return data

    @model_validator(mode="after")
    def _deadline_fits_the_lock(self) -> "Settings":
        if self.queue_batch_timeout_s * 2 >= self.queue_agent_worker_ttl_s:
            raise ValueError(
                "QUEUE_AGENT_WORKER_TTL must be more than twice QUEUE_BATCH_TIMEOUT, "
                "or a consumer blocked in a read would lose its lock"
            )
        return self

    @field_validator("embedded_redis_maxmemory", "queue_weights", "retention", "queue_retention")
    @classmethod
    def _text_parses(cls, value: str, info: ValidationInfo) -> str:
        """Kept as text, parsed where used: parsed once here too, so that a bad value stops the
        command at start, naming its variable."""
        parse: dict[str, Callable[[str], object]] = {
            "embedded_redis_maxmemory": parse_size,
            "queue_weights": parse_weights,
            "retention": parse_duration_s,
            "queue_retention": parse_queue_durations,
        }
        parse[info.field_name or ""](value)
        return value

    @field_validator("dedup_window")
    @classmethod
    def _dedup_window_parses(cls, value: str) -> str:
        if parse_duration_s(value) is None:
            raise ValueError("DEDUP_WINDOW must be a duration (30s, 15m, 36h, 7d), not forever")
        return value

    @property
    def retention_policy(self) -> RetentionPolicy:
        """RETENTION, QUEUE_RETENTION and DEDUP_WINDOW, parsed (``sluicegate.retention``)."""
        window_s = parse_duration_s(self.dedup_window)
        assert window_s is not None  # the validator refuses forever
        return RetentionPolicy(
            parse_duration_s(self.retention), parse_queue_durations(self.queue_retention), window_s
        )

    @property
    def weights(self) -> dict[str, int]:
        return parse_weights(self.queue_weights)

    @model_validator(mode="after")
    def _tls_needs_rediss(self) -> "Settings":
        """TLS files with a plain redis:// URL: the password would cross the network in clear."""
        given = self.redis_tls_ca_file or self.redis_tls_cert_file or self.redis_tls_key_file
        url = self.resolved_redis_url
        if given and url is not None and not url.startswith("rediss://"):
            raise ValueError("REDIS_TLS_* files are set: REDIS_URL must start with rediss://")
        if self.redis_tls_key_file and not self.redis_tls_cert_file:
            raise ValueError("REDIS_TLS_KEY_FILE needs REDIS_TLS_CERT_FILE")
        return self

    @field_validator("redis_cluster_nodes", "redis_sentinels")
    @classmethod
    def _addresses_parse(cls, value: str) -> str:
        parse_addresses(value)
        return value

    @model_validator(mode="after")
    def _one_topology(self) -> "Settings":
        """Seeds or sentinels, not both; a sentinel set needs the name of its primary."""
        if self.redis_cluster_nodes and self.redis_sentinels:
            raise ValueError("set REDIS_CLUSTER_NODES or REDIS_SENTINELS, not both")
        if bool(self.redis_sentinels) != bool(self.redis_sentinel_master):
            raise ValueError("REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together")
        if self.redis_cluster_nodes and self.redis_cluster == "no":
            raise ValueError("REDIS_CLUSTER_NODES names a cluster's seeds: REDIS_CLUSTER=no")
        if self.redis_sentinels and self.redis_cluster == "yes":
            raise ValueError("REDIS_SENTINELS watch a primary, not a cluster: REDIS_CLUSTER=yes")
        return self

    @property
    def resolved_redis_url(self) -> str | None:
        """The Redis URL to use, or None when sluicegate should start its embedded server.
        Without REDIS_URL: the first seed, or the sentinels' primary by its name (the
        sentinels tell its address)."""
        if self.redis_url:
            return self.redis_url
        if self.redis_host:
            return f"redis://{self.redis_host}:{self.redis_port}/0"
        seeds = parse_addresses(self.redis_cluster_nodes)
        if seeds:
            return f"redis://{_netloc(*seeds[0])}"
        if self.redis_sentinels:
            return f"redis://{self.redis_sentinel_master}/0"
        return None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        path = self.sqlite_filepath or self.data_dir / "events.db"
        return f"sqlite:///{path}"

    @property
    def heartbeat_interval_s(self) -> float:
        return self.queue_agent_worker_ttl_s / 3

    @property
    def reclaim_min_idle_s(self) -> float:
        """Entries idle this long belong to a consumer whose lock has expired: reclaim them."""
        return self.queue_agent_worker_ttl_s


_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": MIB, "gb": 1024 * MIB}
_SIZE = re.compile(r"(\d+)\s*([kmg]?b?)")


def parse_size(text: str) -> int | None:
    """``512mb`` -> bytes (Redis's units: kb, mb, gb are powers of 1024); ``auto`` -> None."""
    lowered = text.strip().lower()
    if lowered == "auto":
        return None
    match = _SIZE.fullmatch(lowered)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not auto or a size such as 536870912, 512mb or 2gb")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_weights(text: str) -> dict[str, int]:
    """``orders:5,audit:1`` -> {"orders": 5, "audit": 1}; ValueError naming the bad item."""
    weights: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        queue, _, weight = item.partition(":")
        if not (queue and weight.isdigit() and 1 <= int(weight) <= 1000):
            raise ValueError(f"{item!r} is not queue:weight with a weight from 1 to 1000")
        weights[queue] = int(weight)
    return weights


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = str(item["loc"][0]).upper() if item["loc"] else "settings"
        given = item.get("input")
        shown = mask_url(given) if isinstance(given, str) else given  # never echo a password
        suffix = f" (got {shown!r})" if isinstance(shown, str | int | float) else ""
        lines.append(f"{name}: {item['msg']}{suffix}")
    return "invalid configuration: " + "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; a bad value becomes a ConfigurationError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigurationError(_describe(error)) from error
