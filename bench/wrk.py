"""wrk, the HTTP load generator, run with a Lua script: how many requests, how fast, all 2xx.

One thread (``-t1``): the benchmarks share two cores with what they measure, and a Lua script
that numbers its requests keeps one counter. Needs ``wrk`` (apt-get install wrk).
"""

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WrkRun:
    requests: int  # answered, every one a 2xx
    requests_per_s: float


def require_wrk() -> None:
    """Exit with a message (code 2) when wrk is not installed."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> WrkRun:
    """POST for ``seconds`` over ``connections`` keep-alive connections, as ``script`` says.
    Raises RuntimeError if any answer was not a 2xx."""
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, seconds)}s", "--timeout", "10s",
         "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in output:
        raise RuntimeError(f"non-2xx answers:\n{output}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    if rate is None or count is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return WrkRun(int(count.group(1)), float(rate.group(1)))
