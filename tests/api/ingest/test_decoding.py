"""Content-Encoding: gzip, deflate and zstd bodies; the decompressed size is capped; bombs are
refused without ever holding much more than the cap."""

import gzip
import sys
import tracemalloc
import zlib

import httpx
import orjson
import pytest
import redis

from sluicegate.api.ingest.decoding import Decompression
from sluicegate.api.problems import ProblemError
from tests.api.ingest.test_route import stream

if sys.version_info >= (3, 14):
    from compression.zstd import compress as zstd_compress
else:
    from backports.zstd import compress as zstd_compress

URL = "/v1/events/orders"
BATCH = orjson.dumps([{"event_id": f"e{n}", "payload": {"n": n}} for n in range(3)])
ENCODED = {
    "gzip": gzip.compress(BATCH, mtime=0),
    "deflate": zlib.compress(BATCH),
    "zstd": zstd_compress(BATCH),
}


@pytest.mark.anyio
@pytest.mark.parametrize("encoding", sorted(ENCODED))
async def test_compressed_bodies_are_accepted(
    api: httpx.AsyncClient, redis_client: redis.Redis, encoding: str
) -> None:
    headers = {"content-type": "application/json", "content-encoding": encoding}
    response = await api.post(URL, content=ENCODED[encoding], headers=headers)
    assert response.status_code == 202, response.text
    assert [event.event_id for event in stream(redis_client)] == ["e0", "e1", "e2"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("encoding", "content", "status"),
    [
        ("gzip", gzip.compress(b" " * 5000, mtime=0), 413),  # small on the wire, over 4096 unpacked
        ("gzip", gzip.compress(BATCH, mtime=0)[:-5], 400),  # truncated
        ("gzip", b"not gzip", 400),
        ("br", BATCH, 415),
    ],
    ids=["bomb-ish", "truncated", "not-gzip", "brotli"],
)
async def test_bad_compressed_bodies_are_refused(
    api: httpx.AsyncClient, encoding: str, content: bytes, status: int
) -> None:
    headers = {"content-type": "application/json", "content-encoding": encoding}
    response = await api.post(URL, content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_several_gzip_members_make_one_body() -> None:
    decompression = Decompression("gzip", 1024)
    decompression.feed(gzip.compress(b"ab") + gzip.compress(b"cd"))
    assert decompression.finish() == b"abcd"


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_a_bomb_is_refused_within_the_cap(encoding: str) -> None:
    """256 MiB of zeros in a few KiB (16 MiB members, one after the other), fed in 64 KiB chunks
    against a 1 MiB cap: refused, and Python's allocations peak near the cap, not near 256 MiB."""
    cap = 1 << 20
    zeros = b"\0" * (16 << 20)
    member = gzip.compress(zeros, 9) if encoding == "gzip" else zstd_compress(zeros)
    bomb = member * 16
    del zeros
    decompression = Decompression(encoding, cap)

    def feed_all() -> None:
        for start in range(0, len(bomb), 64 << 10):
            decompression.feed(bomb[start : start + (64 << 10)])

    tracemalloc.start()
    try:
        with pytest.raises(ProblemError) as refused:
            feed_all()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.status == 413
    assert peak < 3 * cap
