"""Where the CPU of each Python process goes under bench_e2e's load: py-spy on the real system.

Starts the system as bench_e2e does (bench/e2e_system.py), warms it up, then samples the API and
the agent with its consumers (``py-spy record --subprocesses``) while wrk posts for
``--seconds`` and until the backlog is drained, and prints for the API, the agent and the
consumers the top frames by self time (the sampled frame itself) and by cumulative time (the
frame anywhere in the stack), as percentages of that process's samples. py-spy leaves out idle
threads (waiting in epoll, a blocking read): the percentages are of on-CPU samples. The raw
stacks (py-spy's collapsed format, one stack a line) are kept in ``--out`` for flame graphs.

Needs py-spy in the venv (``.venv/bin/pip install py-spy``; it is not in the locks) and the
right to ptrace (root, or kernel.yama.ptrace_scope=0).

Usage: python -m bench.profile_e2e [--database sqlite|postgres] [--shape 100x200]
       [--seconds 10] [--top 10] [--out /tmp/sluicegate-profile] [--src ../other/src]
"""

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench.bench_e2e import ROOT, Shape, database, drain, post
from bench.e2e_system import System
from bench.wrk import require_wrk
from tests.postgres_server import configured_dsn

_PROCESS = re.compile(r"^process (\d+):")
_EVERYWHERE = 0.97  # of the samples: a frame in more is not shown as cumulative


def spy(pid: int, output: Path, rate: int, gil: bool) -> "subprocess.Popen[bytes]":
    """py-spy recording ``pid`` and its children (collapsed stacks, no line numbers)."""
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    command = [py_spy, "record", "-p", str(pid), "--subprocesses", "--nolineno", "-r", str(rate)]
    command += ["-f", "raw", "-o", str(output), *(["--gil"] if gil else [])]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stacks(path: Path) -> dict[int, Counter[tuple[str, ...]]]:
    """pid → how many samples of each stack (root first) in a py-spy raw file. With
    ``--subprocesses`` a stack starts with a ``process <pid>:…`` frame for each ancestor
    recorded and one for the process itself: the last one names the process."""
    found: dict[int, Counter[tuple[str, ...]]] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        pids = [int(match.group(1)) for frame in frames if (match := _PROCESS.match(frame))]
        pid = pids[-1] if pids else 0
        found.setdefault(pid, Counter())[tuple(frames[len(pids) :])] += int(count)
    return found


def top(samples: Counter[tuple[str, ...]], count: int) -> list[str]:
    """The ``count`` frames with the most self and cumulative samples, side by side. Frames
    in nearly every sample (the entry points, the event loop's run) are left out of the
    cumulative list: they say nothing."""
    total = sum(samples.values()) or 1
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    for stack, n in samples.items():
        if stack:
            own[stack[-1]] += n
        for frame in set(stack):
            anywhere[frame] += n
    telling = Counter({frame: n for frame, n in anywhere.items() if n < _EVERYWHERE * total})
    lines = [f"  {'self %':>6}  {'frame':<62}  {'cum %':>6}  frame"]
    pairs = zip(own.most_common(count), telling.most_common(count), strict=False)
    for (frame, n), (cum_frame, cum_n) in pairs:
        self_share, cum_share = n * 100 / total, cum_n * 100 / total
        lines.append(f"  {self_share:>6.1f}  {frame[:62]:<62}  {cum_share:>6.1f}  {cum_frame}")
    return lines


def profile(args: argparse.Namespace) -> tuple[Path, Path, int]:
    """Run the load under py-spy; the API's and the agent's raw files, and the agent's pid."""
    api_raw, agent_raw = args.out / "api.txt", args.out / "agent.txt"
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sluicegate-e2e-")))
        db = stack.enter_context(database(args.database, args.postgres_dsn, folder))
        system = stack.enter_context(System(folder, args.src.resolve(), db))
        post(system, args.shape, 1, args.connections, "w")
        drain(system, time.monotonic() + 300)
        agent_pid, api_pid = (service.pid for service in system.services)
        spies = [
            spy(pid, raw, args.rate, args.gil)
            for pid, raw in ((api_pid, api_raw), (agent_pid, agent_raw))
        ]
        post(system, args.shape, args.seconds, args.connections, "m")
        drain(system, time.monotonic() + 300)
        for process in spies:
            process.send_signal(signal.SIGINT)  # py-spy writes its file and exits
            process.wait(timeout=60)
    return api_raw, agent_raw, agent_pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--shape", type=Shape.parse, default=Shape(100, 200))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument(
        "--gil", action="store_true", help="only samples holding the GIL: Python's own CPU"
    )
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--postgres-dsn", default=configured_dsn())
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "sluicegate-profile"
    )
    args = parser.parse_args()
    require_wrk()
    args.out.mkdir(parents=True, exist_ok=True)
    api_raw, agent_raw, agent_pid = profile(args)
    only = ", samples holding the GIL only" if args.gil else ""
    print(f"{args.database}, {args.shape.name}, {args.seconds} s of load and its drain{only}")
    for title, samples in (("API", _merged(stacks(api_raw))), *_agent_parts(agent_raw, agent_pid)):
        print(f"{title}: {sum(samples.values())} samples")
        print("\n".join(top(samples, args.top)))
    print(f"raw stacks: {api_raw} {agent_raw}")


def _merged(by_pid: dict[int, Counter[tuple[str, ...]]]) -> Counter[tuple[str, ...]]:
    merged: Counter[tuple[str, ...]] = Counter()
    for samples in by_pid.values():
        merged.update(samples)
    return merged


def _agent_parts(path: Path, agent_pid: int) -> list[tuple[str, Counter[tuple[str, ...]]]]:
    """The agent's own samples, and its consumers' (every other pid) together."""
    by_pid = stacks(path)
    own = by_pid.pop(agent_pid, Counter())
    return [("agent", own), (f"consumers ({len(by_pid)})", _merged(by_pid))]


if __name__ == "__main__":
    main()
