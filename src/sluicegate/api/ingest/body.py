"""Reading a request body without ever holding more than the configured cap in memory."""

from collections.abc import Mapping

from starlette.requests import ClientDisconnect, Request

from sluicegate.api.ingest.decoding import decompression_for
from sluicegate.api.problems import ProblemError


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


async def read_body(request: Request, headers: Mapping[str, str], max_bytes: int) -> bytes:
    """The body, decompressed per ``Content-Encoding``; 413 as soon as either the bytes received
    or the bytes they decompress to pass ``max_bytes`` (a chunked body has no length to trust)."""
    check_declared_length(headers.get("content-length"), max_bytes)
    decompression = decompression_for(headers.get("content-encoding"), max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            if decompression is None:
                chunks.append(chunk)
            else:
                decompression.feed(chunk)
    except ClientDisconnect:  # nobody will read the answer; just not a server error
        raise ProblemError(400, "client-disconnected", "the client left mid-body") from None
    return b"".join(chunks) if decompression is None else decompression.finish()


def _too_large(max_bytes: int) -> ProblemError:
    return ProblemError(
        413, "body-too-large", f"request body is larger than the limit of {max_bytes} bytes"
    )
