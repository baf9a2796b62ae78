"""The whole system end to end, as a user deploys it, and where each event's CPU goes.

For each database (SQLite, PostgreSQL) and load shape (events per request x payload bytes), and
for each code (this checkout; with ``--before REF`` that commit too, interleaved ``--rounds``
times: before, after, after, before, …, so that a machine getting busier favours neither), a
fresh system (bench/e2e_system.py: a private Valkey with AOF and ``appendfsync always``, one API
process, one agent and its consumers, a new SQLite file or PostgreSQL schema) takes a 1 s
warm-up, drains it, then ``wrk`` POSTs over ``--connections`` connections for ``--seconds``
while the agent persists, and the bench waits for the backlog to drain. Every event has an id
of its own (``wrk`` numbers its requests).

Per row: accepted/s during the load, persisted/s during the load, the backlog when the load
stopped, the seconds to drain it, end-to-end events/s (accepted events over load + drain time),
CPU µs per event of each process over load + drain (the API; the agent with its consumers; Valkey;
the PostgreSQL backends serving the consumers), and Valkey calls per event (``INFO commandstats``,
calls made from scripts included). Ratio rows: after/before, the median of each round's ratio.
Everything shares this machine's cores with wrk and this process: compare rows of one run.

Usage: python -m bench.bench_e2e [--before 93c8e90] [--seconds 10] [--rounds 2]
       [--shapes 100x200,100x2k,1x200,1x2k] [--databases sqlite,postgres] [--json PATH]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from bench.e2e_report import Measurement, report
from bench.e2e_system import Database, Reading, Sqlite, System, postgres
from bench.wrk import require_wrk, run_wrk
from tests.postgres_server import configured_dsn

ROOT = Path(__file__).resolve().parents[1]
_WARMUP_S = 1
_POLL_S = 0.1
_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{path}", "rb")
local template = f:read("*a")
f:close()
local sent = 0
request = function()
  sent = sent + 1
  local body = template:gsub("@@", "{prefix}" .. sent)
  return wrk.format(nil, nil, nil, body)
end
"""


@dataclass(frozen=True)
class Shape:
    batch: int  # events per request; 1: a single JSON object, else a JSON array
    payload_bytes: int

    @property
    def name(self) -> str:
        size = self.payload_bytes
        return f"{self.batch}x{size // 1000}KB" if size % 1000 == 0 else f"{self.batch}x{size}B"

    @classmethod
    def parse(cls, text: str) -> "Shape":
        batch, _, size = text.lower().partition("x")
        scale = 1000 if size.endswith("k") else 1
        return cls(int(batch), int(size.removesuffix("k")) * scale)


def payload(n: int, size: int) -> dict[str, object]:
    """An order-like JSON object of about ``size`` bytes: a few fields and a list of items."""
    items: list[dict[str, object]] = []
    value: dict[str, object] = {"kind": "bench", "n": n, "items": items}
    while len(orjson.dumps(value)) < size:
        count = len(items)
        items.append({"sku": f"sku-{count:05d}", "qty": count % 7 + 1, "price": 12.5, "note": "x"})
    return value


def body_template(shape: Shape) -> bytes:
    """The request body, each event id ``@@-<n>``; wrk puts its request number in place of @@."""
    events = [
        {"event_id": f"@@-{n}", "payload": payload(n, shape.payload_bytes)}
        for n in range(shape.batch)
    ]
    return orjson.dumps(events if shape.batch > 1 else events[0])


def post(system: System, shape: Shape, seconds: int, connections: int, prefix: str) -> None:
    """wrk against the system's API; every answer must be a 2xx."""
    template = system.folder / "body.json"
    template.write_bytes(body_template(shape))
    script = system.folder / f"post-{prefix}.lua"
    script.write_text(_LUA.format(path=template, prefix=prefix))
    run_wrk(system.url, script, seconds, connections)


def drain(system: System, deadline_s: float) -> Reading:
    """Wait until the database holds every event the stream took; the reading then."""
    target = system.read().accepted
    while True:
        while system.database.rows() < target:
            if time.monotonic() > deadline_s:
                raise RuntimeError(f"not drained in time: see the logs in {system.folder}")
            time.sleep(_POLL_S)
        reading = system.read()
        if reading.persisted >= reading.accepted:
            return reading
        target = reading.accepted


def measure(
    code: tuple[str, Path, dict[str, str]],
    database_name: str,
    shape: Shape,
    args: argparse.Namespace,
) -> Measurement:
    """One fresh system: warm up, drain, then the measured load and its drain."""
    with (
        tempfile.TemporaryDirectory(prefix="sluicegate-e2e-") as name,
        database(database_name, args.postgres_dsn, Path(name)) as db,
        System(Path(name), code[1], db, code[2]) as system,
    ):
        post(system, shape, _WARMUP_S, args.connections, "w")
        drain(system, time.monotonic() + args.drain_timeout)
        start = system.read()
        post(system, shape, args.seconds, args.connections, "m")
        loaded = system.read()
        end = drain(system, time.monotonic() + args.drain_timeout)
    return Measurement.of(code[0], database_name, shape.name, (start, loaded, end))


@contextmanager
def database(name: str, dsn: str, folder: Path) -> Iterator[Database]:
    """SQLite in the system's folder, or a schema of its own in ``dsn``'s database."""
    if name == "sqlite":
        yield Sqlite(folder)
        return
    with postgres(dsn) as pg:
        yield pg


def before_src(ref: str) -> Path:
    """The ``src`` of a git worktree of ``ref`` in the temp folder, made once and reused."""
    sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    folder = Path(tempfile.gettempdir()) / f"sluicegate-before-{sha[:12]}"
    if not folder.exists():
        git("worktree", "prune")
        git("worktree", "add", "--detach", str(folder), sha)
    elif git("rev-parse", "HEAD", cwd=folder) != sha:
        sys.exit(f"{folder} is not at {sha}: remove it (git worktree remove {folder})")
    return folder / "src"


def git(*arguments: str, cwd: Path = ROOT) -> str:
    command = ["git", "-C", str(cwd), *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def run(args: argparse.Namespace) -> list[Measurement]:
    codes: list[tuple[str, Path, dict[str, str]]] = (
        [("after", ROOT / "src", {})] if args.before else [("this", ROOT / "src", {})]
    )
    if args.before:
        codes.insert(0, ("before", before_src(args.before), args.before_env))
    measurements: list[Measurement] = []
    for name in args.databases:
        for shape in args.shapes:
            for round_number in range(args.rounds):
                for code in codes if round_number % 2 == 0 else codes[::-1]:
                    measured = measure(code, name, shape, args)
                    measurements.append(measured)
                    print(f"round {round_number + 1}: {measured.line()}", file=sys.stderr)
    return measurements


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="REF", help="git ref to compare against")
    parser.add_argument(
        "--before-env",
        type=lambda text: dict(part.split("=", 1) for part in text.split(",")),
        default={},
        metavar="KEY=VALUE,…",
        help="settings of the before system only (--before HEAD: compare settings, same code)",
    )
    parser.add_argument("--seconds", type=int, default=10, help="of load per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--shapes",
        type=lambda text: [Shape.parse(part) for part in text.split(",")],
        default=[Shape(100, 200), Shape(100, 2000), Shape(1, 200), Shape(1, 2000)],
        help="events per request x payload bytes, comma-separated (default 100x200,100x2k,…)",
    )
    parser.add_argument(
        "--databases", type=lambda text: text.split(","), default=["sqlite", "postgres"]
    )
    parser.add_argument("--postgres-dsn", default=configured_dsn(), help="a schema is made in it")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every figure there")
    args = parser.parse_args(argv)
    if unknown := set(args.databases) - {"sqlite", "postgres"}:
        parser.error(f"unknown database {', '.join(sorted(unknown))}: sqlite or postgres")
    return args


def main() -> None:
    args = parse_args()
    require_wrk()
    load_before = os.getloadavg()[0]
    measurements = run(args)
    print(report(measurements))
    print(
        f"{args.seconds} s of load a measurement, median of {args.rounds} rounds, "
        f"{args.connections} connections; {os.cpu_count()} cores, load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after; others: cores busy with "
        "anything but the system, wrk and this bench"
    )
    if args.json:
        figures = {
            "arguments": {**vars(args), "shapes": [shape.name for shape in args.shapes]},
            "measurements": [asdict(measured) for measured in measurements],
        }
        args.json.write_bytes(orjson.dumps(figures, default=str, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
