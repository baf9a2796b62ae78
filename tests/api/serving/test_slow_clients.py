"""Slow and greedy clients against a real API process: it keeps answering everyone else, closes
the offenders within its limits, and its memory stays put.

- slow-loris: hundreds of connections sending a request head a byte at a time;
- a client that pipelines requests and never reads a response;
- request heads over API_MAX_HEADER_BYTES; connections beyond API_LIMIT_CONCURRENCY.

The figures (answers to a normal client during the attack, the API's RSS before, at the peak and
after) are printed: ``pytest -s tests/api/serving/test_slow_clients.py``.
"""

import asyncio
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.anyio]
SLOW_CONNECTIONS = 200
HEADER_TIMEOUT_S = 2.0
SEND_TIMEOUT_S = 2.0
MAX_HEADER_BYTES = 8192
RSS_GROWTH_LIMIT_KIB = 40 * 1024
LIMITS = {
    "API_HEADER_TIMEOUT": str(HEADER_TIMEOUT_S),
    "API_SEND_TIMEOUT": str(SEND_TIMEOUT_S),
    "API_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
}
EVENT = {"payload": {"n": 1}}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _slow_loris(port: int, head: bytes, byte_every_s: float) -> str:
    """Send ``head`` a byte at a time; how it ended: 408, closed, or finished (not expected)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                answer = await asyncio.wait_for(reader.read(100), byte_every_s)
            except TimeoutError:
                continue
            return "408" if answer.startswith(b"HTTP/1.1 408") else "closed"
        return "finished"
    except (ConnectionError, OSError):
        return "closed"
    finally:
        writer.close()


async def _normal_client(base: str, until: float) -> list[tuple[int, float]]:
    """POST one event after another, each on a new connection, until ``until``."""
    answers = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while time.monotonic() < until:
            started = time.monotonic()
            response = await client.post(
                "/v1/events/orders", json=EVENT, headers={"connection": "close"}
            )
            answers.append((response.status_code, time.monotonic() - started))
    return answers


def _report(name: str, answers: list[tuple[int, float]], rss: dict[str, int]) -> None:
    latencies = sorted(seconds for _, seconds in answers)
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(
        f"\n{name}: normal client {len(answers)} requests, "
        f"{sum(status == 202 for status, _ in answers)} answered 202, "
        f"latency median {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms; "
        f"API RSS before {rss['before'] / 1024:.1f} MiB, peak {rss['peak'] / 1024:.1f} MiB, "
        f"after {rss['after'] / 1024:.1f} MiB"
    )


async def test_slow_loris_does_not_starve_normal_clients(launch: Any) -> None:
    api = launch(**LIMITS)
    port = api.port()
    base = f"http://127.0.0.1:{port}"
    await _normal_client(base, time.monotonic() + 0.5)  # warm up
    rss = {"before": rss_kib(api.pid)}
    head = b"POST /v1/events/orders HTTP/1.1\r\nHost: api\r\nX-Slow: " + b"a" * 40
    # 60 bytes at 5 a second: 12 s, six times the header timeout.
    attack = [
        asyncio.create_task(_slow_loris(port, head, byte_every_s=0.2))
        for _ in range(SLOW_CONNECTIONS)
    ]
    answers = await _normal_client(base, time.monotonic() + HEADER_TIMEOUT_S + 1)
    rss["peak"] = rss_kib(api.pid)
    endings = await asyncio.gather(*attack)
    rss["after"] = rss_kib(api.pid)
    _report("slow-loris", answers, rss)

    assert answers
    assert all(status == 202 for status, _ in answers)
    assert endings.count("408") == SLOW_CONNECTIONS, endings
    assert rss["after"] - rss["before"] < RSS_GROWTH_LIMIT_KIB


def _greedy_connection(port: int, requests: int) -> socket.socket:
    """Pipeline requests for a large document; the caller never reads the answers."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(10)
    sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: api\r\n\r\n" * requests)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Read what was buffered: the server's close (EOF, or a reset) ends it within the timeout."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionError:
        pass
    except TimeoutError:
        return False
    return True


async def test_a_client_that_never_reads_is_dropped(launch: Any) -> None:
    api = launch(**LIMITS)
    port = api.port()
    base = f"http://127.0.0.1:{port}"
    rss = {"before": rss_kib(api.pid)}
    started = time.monotonic()
    greedy = _greedy_connection(port, 2000)
    try:
        answers = await _normal_client(base, time.monotonic() + SEND_TIMEOUT_S)
        rss["peak"] = rss_kib(api.pid)
        await asyncio.to_thread(
            wait_for, lambda: api.first("api-client-dropped"), 30, 0.05, "the drop"
        )
        dropped_after_s = time.monotonic() - started
        assert _closed_by_server(greedy)
    finally:
        greedy.close()
    rss["after"] = rss_kib(api.pid)
    _report(f"never-reads (dropped after {dropped_after_s:.1f} s)", answers, rss)

    assert answers
    assert all(status == 202 for status, _ in answers)
    assert rss["after"] - rss["before"] < RSS_GROWTH_LIMIT_KIB
    assert not [line for line in api.logs() if line["level"] == "error"]


def _send_head(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(head)
        except OSError:
            pass  # closed before we finished: the answer is already waiting
        return sock.recv(200)


def test_oversized_heads_get_431(launch: Any) -> None:
    api = launch(**LIMITS)
    port = api.port()
    big_header = b"GET /livez HTTP/1.1\r\nHost: api\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    endless = b"GET /livez HTTP/1.1\r\nHost: api\r\nX-Big: " + b"a" * 4_000_000
    long_url = b"GET /livez?" + b"q" * 20_000 + b" HTTP/1.1\r\nHost: api\r\n\r\n"
    for head in (big_header, endless, long_url):
        assert _send_head(port, head).startswith(b"HTTP/1.1 431"), head[:40]
    fits = b"GET /livez HTTP/1.1\r\nHost: api\r\nX-Ok: " + b"a" * 4000 + b"\r\n\r\n"
    assert _send_head(port, fits).startswith(b"HTTP/1.1 200")


def test_beyond_limit_concurrency_new_requests_get_503(launch: Any) -> None:
    api = launch(**LIMITS, API_LIMIT_CONCURRENCY="20")
    port = api.port()
    silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(25)]
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/livez").status_code == 503
        # The silent connections get 408 once the header timeout passes; then room again.
        assert all(sock.recv(100).startswith(b"HTTP/1.1 408") for sock in silent)
        assert httpx.get(f"http://127.0.0.1:{port}/livez").status_code == 200
    finally:
        for sock in silent:
            sock.close()
