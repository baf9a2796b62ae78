"""The shapes the OpenAPI document describes, and the response models of ``/livez`` and
``/readyz``. They do not check requests: the format adapters do (``ingest/formats/checks.py``,
about 3x cheaper than pydantic per request), with the same rules (``ingest/rules.py``)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sluicegate.api.ingest.rules import EVENT_ID_MAX_CHARS, EVENT_ID_PATTERN


class EventIn(BaseModel):
    """One event as a client sends it."""

    # python-re: the same regex engine hypothesis/schemathesis use to generate ids.
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        regex_engine="python-re",
        json_schema_extra={
            "examples": [
                {"event_id": "order-1234-created", "payload": {"order": 1234, "total": "19.90"}}
            ]
        },
    )

    event_id: str | None = Field(
        None,
        min_length=1,
        max_length=EVENT_ID_MAX_CHARS,
        pattern=EVENT_ID_PATTERN,
        description="Your id for the event, the key that makes retries safe (at most one row "
        "per id). Omitted: the API mints a UUIDv7.",
    )
    payload: dict[str, Any] = Field(description="Any JSON object; stored as compact JSON text.")


class Accepted(BaseModel):
    """The reply to a 202: the events are durably queued, in this order."""

    queue: str
    accepted: int
    event_ids: list[str]
    quarantined: list[str] = Field(
        default_factory=list,
        description="Only when some were: the ids (also in event_ids) that broke the queue's "
        "schema contract in quarantine mode (SCHEMAS_FILE); they went to its dead letters.",
    )


class NodeMemory(BaseModel):
    node: str = Field(examples=["127.0.0.1:6379"])
    used_bytes: int
    maxmemory_bytes: int = Field(description="0: no limit (nothing protects the host)")
    policy: str = Field(examples=["noeviction"])


class RedisMemory(BaseModel):
    high_water: float = Field(
        description="REDIS_MEMORY_HIGH_WATER: from this fraction of a node's maxmemory, POSTs "
        "to its queues answer 503 queue-store-full"
    )
    nodes: list[NodeMemory]
    warnings: list[str] = Field(description="maxmemory 0, or a volatile-* policy")


class Ready(BaseModel):
    status: str = Field(examples=["ready"])
    durability: str = Field(description="What a 202 promises: waitaof, fsync-always or memory.")
    durability_replicas: int = Field(
        0, description="Replicas that fsync each event before its 202 (DURABILITY_REPLICAS)."
    )
    redis_memory: RedisMemory | None = Field(
        None, description="Each Redis primary's memory, and what protects it from filling up."
    )


class Alive(BaseModel):
    status: str = Field(examples=["alive"])


class ProblemField(BaseModel):
    field: str = Field(examples=["[3].payload"])
    message: str
    index: int | None = Field(
        None, description="schema-violation only: the event's place in the request (0-based)."
    )
    event_id: str | None = Field(None, description="schema-violation only: the event's id.")
    pointer: str | None = Field(
        None,
        description="schema-violation only: RFC 6901 JSON pointer into the stored payload "
        "('' for the whole payload).",
        examples=["/status"],
    )


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field(examples=["urn:sluicegate:problem:invalid-event"])
    title: str = Field(examples=["Unprocessable Content"])
    status: int = Field(examples=[422])
    detail: str
    errors: list[ProblemField] | None = Field(
        None, description="Per-field errors, on 422 and some 413."
    )
