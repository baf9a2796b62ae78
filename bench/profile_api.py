"""Where a single-event POST spends its time: the API under pyinstrument, loaded by wrk.

Starts a private Valkey (AOF, appendfsync always), runs ``python -m sluicegate.api`` under
pyinstrument (``pip install pyinstrument``), sends single events with wrk for a few seconds, stops
the API with SIGINT and prints pyinstrument's text report (time spent waiting in the event loop
shows as ``select``/``run_forever``; the rest is the request's CPU).

Usage: python -m bench.profile_api [--seconds 5] [--src ../other/src] [--body batch]
"""

import argparse
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

from bench.bench_ingest import Body, bodies, wrk
from sluicegate.embedded.server import EmbeddedServer
from tests.waiting import wait_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--src", type=Path, help="profile the API of another checkout's src")
    parser.add_argument("--body", default="single", help="single, batch 100, ndjson 1000, gzip...")
    args = parser.parse_args()
    body: Body = next(b for b in bodies() if b.name.startswith(args.body))
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        server = EmbeddedServer(folder / "redis").start()
        env = {"REDIS_URL": server.url, "PORT": "0", "QUEUE_MAX_DEPTH": str(10**9)}
        if args.src:
            env["PYTHONPATH"] = str(args.src.resolve())
        report = folder / "profile.txt"
        log = folder / "api.log"
        command = [sys.executable, "-m", "pyinstrument", "-r", "text", "-p", "flat", "--no-color"]
        api = subprocess.Popen(
            [*command, "-o", str(report), "-m", "sluicegate.api"],
            env={**dict(__import__("os").environ), **env},
            stderr=log.open("wb"),
        )
        try:
            port = wait_for(lambda: _port(log), message="api-listening")
            assert port is not None  # wait_for returns only a truthy value
            run = wrk(port, body, args.seconds, 32, folder, api.pid)
            print(f"{run.requests_per_s:.0f} requests/s under the profiler")
            api.send_signal(signal.SIGINT)
            api.wait(timeout=60)
            print(report.read_text())
        finally:
            if api.poll() is None:
                api.kill()
            server.kill()


def _port(log: Path) -> int | None:
    for line in log.read_bytes().splitlines():
        if line.startswith(b"{") and b"api-listening" in line:
            return int(orjson.loads(line)["payload"]["port"])
    return None


if __name__ == "__main__":
    main()
