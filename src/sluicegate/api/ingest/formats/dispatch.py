"""Which adapter reads a ``POST /v1/events/{queue}`` body: by ``Content-Type``, as the
CloudEvents HTTP binding says (structured and batched by media type, binary by ``ce-specversion``).
"""

from collections.abc import Mapping

from sluicegate.api.ingest.formats import cloudevents, envelope, ndjson
from sluicegate.api.ingest.formats.base import Adapter, is_json, media_type
from sluicegate.api.problems import ProblemError


def adapter_for(headers: Mapping[str, str]) -> Adapter:
    """The adapter for this request, or 415 naming what the endpoint speaks."""
    media = media_type(headers.get("content-type"))
    if media == cloudevents.STRUCTURED:
        return cloudevents.structured
    if media == cloudevents.BATCH:
        return cloudevents.batch
    if "ce-specversion" in headers:
        return cloudevents.binary
    if is_json(media):
        return envelope.parse_request
    if media in ndjson.MEDIA_TYPES:
        return ndjson.parse
    shown = f"'{media}'" if media else "no Content-Type"
    raise ProblemError(
        415,
        "unsupported-media-type",
        "send application/json (or application/*+json), application/x-ndjson, "
        f"or a CloudEvent (application/cloudevents+json, ce-* headers), not {shown}",
    )
