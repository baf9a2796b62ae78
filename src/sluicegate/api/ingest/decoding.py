"""``Content-Encoding`` (gzip, deflate, zstd): decompressed while the body streams in, never past
``MAX_BODY_BYTES``.

Each chunk is decompressed with ``max_length`` set to what is left of the cap plus one byte, so a
decompression bomb costs at most the cap in memory before it is refused with 413: the decoders
(zlib, and ``compression.zstd``'s backport) keep the rest of their input unexpanded.
"""

import sys
import zlib
from collections.abc import Callable
from typing import Protocol

from sluicegate.api.problems import ProblemError

if sys.version_info >= (3, 14):
    from compression.zstd import ZstdDecompressor, ZstdError
else:
    from backports.zstd import ZstdDecompressor, ZstdError


class Decoder(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


def _gzip() -> Decoder:
    return zlib.decompressobj(16 + zlib.MAX_WBITS)


def _deflate() -> Decoder:
    return zlib.decompressobj()


def _zstd() -> Decoder:
    return ZstdDecompressor()


_DECODERS: dict[str, Callable[[], Decoder]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "zstd": _zstd,
}
ENCODINGS = ("gzip", "deflate", "zstd")
_IDENTITY = frozenset({"", "identity"})


class Decompression:
    """One body's decompression: ``feed`` each chunk, then ``finish`` for the whole text."""

    def __init__(self, encoding: str, max_bytes: int) -> None:
        self.encoding = encoding
        self._new = _DECODERS[encoding]
        self._decoder = self._new()
        self._max_bytes = max_bytes
        self._size = 0
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> None:
        while data:
            try:
                out = self._decoder.decompress(data, self._max_bytes - self._size + 1)
            except (zlib.error, ZstdError) as error:
                raise self._malformed(str(error)) from None
            self._size += len(out)
            if self._size > self._max_bytes:
                raise ProblemError(
                    413,
                    "body-too-large",
                    f"the decompressed body is larger than the limit of {self._max_bytes} bytes",
                )
            self._parts.append(out)
            # Several gzip members (or zstd frames) one after the other make one body.
            data = self._decoder.unused_data if self._decoder.eof else b""
            if data:
                self._decoder = self._new()

    def finish(self) -> bytes:
        if not self._decoder.eof:
            raise self._malformed("the body ends before the compressed stream does")
        return b"".join(self._parts)

    def _malformed(self, why: str) -> ProblemError:
        return ProblemError(400, "bad-encoding", f"the body is not valid {self.encoding}: {why}")


def decompression_for(header: str | None, max_bytes: int) -> Decompression | None:
    """None for an uncompressed body; 415 for an encoding we do not speak."""
    encoding = (header or "").strip().lower()
    if encoding in _IDENTITY:
        return None
    if encoding not in _DECODERS:
        raise ProblemError(
            415,
            "unsupported-encoding",
            f"Content-Encoding '{encoding}' is not supported; use {', '.join(ENCODINGS)} or none",
        )
    return Decompression(encoding, max_bytes)
