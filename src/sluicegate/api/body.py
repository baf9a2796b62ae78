"""Reading a request body without ever holding more than the configured cap in memory."""

from starlette.requests import ClientDisconnect, Request

from sluicegate.api.problems import ProblemError

_JSON = "application/json"


def check_content_type(value: str | None) -> None:
    """Accept ``application/json`` and any ``application/*+json`` (parameters ignored)."""
    media = (value or "").split(";", 1)[0].strip().lower()
    if media == _JSON or (media.startswith("application/") and media.endswith("+json")):
        return
    shown = f"'{media}'" if media else "no Content-Type"
    raise ProblemError(
        415, "unsupported-media-type", f"send application/json (or application/*+json), not {shown}"
    )


def check_declared_length(value: str | None, max_bytes: int) -> None:
    """Refuse early, before reading anything, when Content-Length already says too much."""
    if value is None:
        return
    try:
        declared = int(value)
    except ValueError:
        raise ProblemError(
            400, "bad-content-length", f"Content-Length is not a number: {value!r}"
        ) from None
    if declared > max_bytes:
        raise _too_large(max_bytes)


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """Count streamed bytes too: a chunked body has no Content-Length to trust."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            chunks.append(chunk)
    except ClientDisconnect:  # nobody will read the answer; just not a server error
        raise ProblemError(400, "client-disconnected", "the client left mid-body") from None
    return b"".join(chunks)


def _too_large(max_bytes: int) -> ProblemError:
    return ProblemError(
        413, "body-too-large", f"request body is larger than the limit of {max_bytes} bytes"
    )
