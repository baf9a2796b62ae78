"""How long a graceful agent stop takes when every Redis round trip is slow.

Puts 20,000 events in each of 4 queues of a private Valkey, starts ``python -m sluicegate agent``
(MAX_CONSUMERS=4, SHUTDOWN_DEADLINE as given) through the drill's TCP proxy, waits for its four
consumers to work, adds ``--latency-s`` to every chunk each way (a round trip of twice that),
SIGTERMs the agent and times its exit. Prints, per stop: the time from the signal to the
agent's reading it, the stop's duration against the deadline, consumers killed, and the time
from ``agent-stopped`` to the process's exit. Exit 1 when a stop overran its deadline.

Usage: python -m bench.bench_stop_latency [--latency-s 0.5] [--stops 3] [--deadline-s 5]
"""

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench.bench_many_queues import start_agent
from sluicegate.drill.proxy import Proxy
from sluicegate.embedded.server import EmbeddedServer
from tests.loading import enqueue, make_events

_QUEUES = 4
_EVENTS = 20_000
_POLL_S = 0.05


def logged(path: Path) -> dict[str, int]:
    """The wall time (ms) of each log command's first line."""
    first: dict[str, int] = {}
    for line in path.read_bytes().splitlines():
        if line.startswith(b"{"):
            entry = orjson.loads(line)
            first.setdefault(entry["command"], entry["time"])
    return first


def wait_consumers(path: Path, count: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while path.read_bytes().count(b"consumer-started") < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} consumers did not start in {timeout_s:.0f} s ({path})")
        time.sleep(_POLL_S)


def one_stop(args: argparse.Namespace, root: Path, proxy: Proxy, run: int) -> float:
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0",
        "SQLITE_FILEPATH": str(root / "events.db"),
        "AGENT_PORT": "0",
        "LOG_FORMAT": "json",
        "SHUTDOWN_DEADLINE": str(args.deadline_s),
        "MAX_CONSUMERS": str(_QUEUES),
    }
    log_path = root / f"agent-{run}.log"
    agent = start_agent(env, log_path)
    wait_consumers(log_path, _QUEUES)
    proxy.set_latency(args.latency_s)
    time.sleep(1.0)  # let the loop and the consumers be in the middle of slow calls
    signalled, signalled_wall = time.monotonic(), time.time()
    agent.send_signal(signal.SIGTERM)
    code = agent.wait(timeout=args.deadline_s + 60)
    took_s, exited_wall = time.monotonic() - signalled, time.time()
    proxy.set_latency(0.0)
    seen = logged(log_path)
    killed = log_path.read_bytes().count(b"kill-node-process")
    read_s = seen["stop-signal-received"] / 1000 - signalled_wall
    exit_s = exited_wall - seen["agent-stopped"] / 1000
    print(
        f"stop {run + 1}: exit {code}, {took_s:.2f} s (deadline {args.deadline_s:g} s), "
        f"{killed} killed; signal read after {read_s:.2f} s, process exit {exit_s:.2f} s "
        "after agent-stopped",
        flush=True,
    )
    return took_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-s", type=float, default=0.5)
    parser.add_argument("--stops", type=int, default=3)
    parser.add_argument("--deadline-s", type=float, default=5.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-stop-latency-"))
    server = EmbeddedServer(root / "redis").start()
    proxy = Proxy("127.0.0.1", server.port).start()
    took: list[float] = []
    try:
        for run in range(args.stops):
            for queue in range(_QUEUES):
                enqueue(server.url, make_events(f"q{run}-{queue}", _EVENTS))
            took.append(one_stop(args, root, proxy, run))
    finally:
        proxy.stop()
        server.kill()
    over = [t for t in took if t > args.deadline_s]
    print(f"{len(over)} of {len(took)} stops over the deadline")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
