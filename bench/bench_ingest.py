"""Ingest throughput of the API against the bare endpoint, in one run, with wrk.

Starts a private Valkey (AOF, appendfsync always), ``bench/bare_endpoint.py`` and the API (this
checkout; with ``--before SRC`` also the API from another checkout's ``src``), then for each body
runs wrk against each of them in turn, flushing Valkey in between. Bodies: a single event, a JSON
batch of 100, NDJSON of 1000 lines, a gzipped batch of 100. The bare endpoint gets the same events
as a plain JSON body (it speaks nothing else). Everything shares this machine's two cores with wrk:
compare rows of one run, never absolutes across runs.

Usage: python -m bench.bench_ingest [--seconds 5] [--connections 32] [--before ../main/src]
Needs ``wrk`` (apt-get install wrk).
"""

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson
import redis

from bench.bench_api import start_api
from bench.procstat import cpu_s
from bench.wrk import run_wrk
from sluicegate.embedded.server import EmbeddedServer
from tests.waiting import wait_for

_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
{extra}local f = io.open("{path}", "rb")
wrk.body = f:read("*a")
f:close()
"""


@dataclass(frozen=True)
class Body:
    name: str
    events: int
    content: bytes
    content_type: str = "application/json"
    encoding: str | None = None


def _events(count: int) -> list[dict[str, object]]:
    return [{"event_id": f"bench-{n}", "payload": {"n": n, "kind": "bench"}} for n in range(count)]


def bodies() -> list[Body]:
    batch = orjson.dumps(_events(100))
    ndjson = b"\n".join(orjson.dumps(event) for event in _events(1000)) + b"\n"
    return [
        Body("single", 1, orjson.dumps(_events(1)[0])),
        Body("batch 100", 100, batch),
        Body("ndjson 1000", 1000, ndjson, "application/x-ndjson"),
        Body("gzip batch 100", 100, gzip.compress(batch), encoding="gzip"),
    ]


def bare_body(body: Body) -> Body:
    """The same events as the bare endpoint understands them: JSON, uncompressed."""
    events = _events(body.events)
    return Body(body.name, body.events, orjson.dumps(events if body.events > 1 else events[0]))


@dataclass(frozen=True)
class Run:
    requests_per_s: float
    cpu_ms_per_request: float  # the server process's own CPU: robust on a busy machine


def wrk(port: int, body: Body, seconds: float, connections: int, folder: Path, pid: int) -> Run:
    """Raises if any answer was not a 2xx."""
    (folder / "body").write_bytes(body.content)
    extra = f'wrk.headers["Content-Encoding"] = "{body.encoding}"\n' if body.encoding else ""
    script = folder / "post.lua"
    script.write_text(
        _LUA.format(content_type=body.content_type, extra=extra, path=folder / "body")
    )
    cpu_before = cpu_s(pid)
    url = f"http://127.0.0.1:{port}/v1/events/bench"
    result = run_wrk(url, script, round(seconds), connections)
    cpu = cpu_s(pid) - cpu_before
    return Run(result.requests_per_s, cpu * 1000 / max(1, result.requests))


def start_bare(redis_url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = 18_000 + os.getpid() % 1000
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_endpoint"],
        env={**os.environ, "REDIS_URL": redis_url, "PORT": str(port)},
        start_new_session=True,
    )

    def listening() -> bool:
        try:
            import socket

            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    wait_for(listening, message="the bare endpoint")
    return process, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--before", type=Path, help="src folder of the API to compare against")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        server = EmbeddedServer(folder / "redis").start()
        processes: list[subprocess.Popen[bytes]] = []
        try:
            flush = redis.Redis.from_url(server.url)
            bare, bare_port = start_bare(server.url)
            processes.append(bare)
            targets = {"bare": (bare_port, bare.pid)}
            if args.before:
                env = {"PYTHONPATH": str(args.before.resolve())}
                before, port = start_api(server.url, "auto", env)
                processes.append(before)
                targets["before"] = (port, before.pid)
            after, port = start_api(server.url, "auto")
            processes.append(after)
            targets["after"] = (port, after.pid)
            run(targets, folder, flush, args.seconds, args.connections)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=15)
            server.kill()


def run(
    targets: dict[str, tuple[int, int]],
    folder: Path,
    flush: redis.Redis,
    seconds: float,
    connections: int,
) -> None:
    """Each body against each target (port, pid): req/s, events/s, CPU ms per request, ratios."""
    names = list(targets)
    head = "".join(f"{n + ' req/s':>13}{n + ' ev/s':>12}{'cpu ms':>8}" for n in names)
    ratios = "".join(f"{n + '/bare':>13}" for n in names if n != "bare")
    print(f"{'body':<15}{head}{ratios}")
    nan = Run(float("nan"), float("nan"))
    for body in bodies():
        runs: dict[str, Run] = {}
        for target, (port, pid) in targets.items():
            sent = bare_body(body) if target == "bare" else body
            try:
                flush.flushall()
                wrk(port, sent, 1, connections, folder, pid)  # warm up
                flush.flushall()
                runs[target] = wrk(port, sent, seconds, connections, folder, pid)
            except RuntimeError:
                runs[target] = nan  # e.g. a format the old API does not speak
        row = f"{body.name:<15}"
        for n in names:
            run = runs[n]
            row += f"{run.requests_per_s:>13.0f}{run.requests_per_s * body.events:>12.0f}"
            row += f"{run.cpu_ms_per_request:>8.2f}"
        bare = runs["bare"].requests_per_s or float("nan")
        row += "".join(f"{runs[n].requests_per_s / bare:>13.2f}" for n in names if n != "bare")
        print(row, flush=True)


if __name__ == "__main__":
    main()
