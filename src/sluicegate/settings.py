"""Typed settings, read once from the environment (the original service's variable names)."""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sluicegate.errors import ConfigurationError

Durability = Literal["aof", "auto", "none"]
LogLevel = Literal["debug", "info", "warning", "error"]

MIB = 1024 * 1024


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every knob of sluicegate. Durations are float seconds; names end in ``_s``."""

    model_config = SettingsConfigDict(
        case_sensitive=False, populate_by_name=True, extra="ignore", frozen=True
    )

    log_level: LogLevel = Field("info", validation_alias=_env("LOG_LEVEL", "log_level"))
    host: str = Field("127.0.0.1", validation_alias=_env("HOST", "host"))
    port: int = Field(8000, ge=0, le=65535, validation_alias=_env("PORT", "port"))

    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL", "redis_url"))
    redis_host: str | None = Field(None, validation_alias=_env("REDIS_HOST", "redis_host"))
    redis_port: int = Field(6379, ge=1, le=65535, validation_alias=_env("REDIS_PORT", "redis_port"))
    database_url: str | None = Field(None, validation_alias=_env("DATABASE_URL", "database_url"))
    sqlite_filepath: Path | None = Field(
        None, validation_alias=_env("SQLITE_FILEPATH", "sqlite_filepath")
    )
    data_dir: Path = Field(
        Path(".sluicegate"), validation_alias=_env("SLUICEGATE_DATA_DIR", "data_dir")
    )

    queue_batch_size: int = Field(
        500, ge=1, le=10_000, validation_alias=_env("QUEUE_BATCH_SIZE", "queue_batch_size")
    )
    queue_batch_timeout_s: float = Field(
        0.5, gt=0, le=60, validation_alias=_env("QUEUE_BATCH_TIMEOUT", "queue_batch_timeout_s")
    )
    queue_poll_freq_s: float = Field(
        1.0, gt=0, le=300, validation_alias=_env("QUEUE_POLL_FREQ", "queue_poll_freq_s")
    )
    queue_agent_worker_ttl_s: float = Field(
        15.0,
        ge=1,
        le=3600,
        validation_alias=_env("QUEUE_AGENT_WORKER_TTL", "queue_agent_worker_ttl_s"),
    )
    shutdown_deadline_s: float = Field(
        8.0, gt=0, le=600, validation_alias=_env("SHUTDOWN_DEADLINE", "shutdown_deadline_s")
    )
    queue_max_depth: int = Field(
        1_000_000, ge=1, validation_alias=_env("QUEUE_MAX_DEPTH", "queue_max_depth")
    )
    dead_letter_after: int = Field(
        5, ge=1, le=1000, validation_alias=_env("DEAD_LETTER_AFTER", "dead_letter_after")
    )
    durability: Durability = Field("auto", validation_alias=_env("DURABILITY", "durability"))
    durability_timeout_s: float = Field(
        5.0, gt=0, le=60, validation_alias=_env("DURABILITY_TIMEOUT", "durability_timeout_s")
    )
    api_drain_delay_s: float = Field(
        0.0, ge=0, le=60, validation_alias=_env("API_DRAIN_DELAY", "api_drain_delay_s")
    )
    max_body_bytes: int = Field(
        MIB, ge=1024, validation_alias=_env("MAX_BODY_BYTES", "max_body_bytes")
    )
    max_batch_events: int = Field(
        1000, ge=1, validation_alias=_env("MAX_BATCH_EVENTS", "max_batch_events")
    )
    max_event_bytes: int = Field(
        64 * 1024, ge=64, validation_alias=_env("MAX_EVENT_BYTES", "max_event_bytes")
    )

    consumer_class: str = Field(
        "sluicegate.worker.consumer:Consumer",
        validation_alias=_env("CONSUMER_CLASS", "consumer_class"),
    )

    @model_validator(mode="after")
    def _deadline_fits_the_lock(self) -> "Settings":
        if self.queue_batch_timeout_s * 2 >= self.queue_agent_worker_ttl_s:
            raise ValueError(
                "QUEUE_AGENT_WORKER_TTL must be more than twice QUEUE_BATCH_TIMEOUT, "
                "or a consumer blocked in a read would lose its lock"
            )
        return self

    @property
    def resolved_redis_url(self) -> str | None:
        """The Redis URL to use, or None when sluicegate should start its embedded server."""
        if self.redis_url:
            return self.redis_url
        if self.redis_host:
            return f"redis://{self.redis_host}:{self.redis_port}/0"
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


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = str(item["loc"][0]).upper() if item["loc"] else "settings"
        given = item.get("input")
        suffix = f" (got {given!r})" if isinstance(given, str | int | float) else ""
        lines.append(f"{name}: {item['msg']}{suffix}")
    return "invalid configuration: " + "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; a bad value becomes a ConfigurationError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigurationError(_describe(error)) from error
