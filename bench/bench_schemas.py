"""Schema contracts (SCHEMAS_FILE): the two compiled validators, then the ingest route with and
without a contract, in one run.

1. Validators, in this process: jsonschema-rs and fastjsonschema on the realistic order schema of
   tests/api/contracts/orders.py (10 properties: types, one enum, one pattern), per payload parsed
   from its stored JSON text as the API does; a payload that keeps the schema, and one that breaks
   it in three places (jsonschema-rs lists all three; fastjsonschema raises at the first).
2. The ingest route: one private Valkey (AOF, appendfsync always), two API processes (without
   SCHEMAS_FILE, and with the order schema in reject mode), wrk against each in turn, alternating,
   ``--rounds`` times; single events and batches of 100 valid orders. The ratio is schema / none,
   of requests/s and of the API process's CPU per request (the steadier figure on a busy machine).

Usage: python -m bench.bench_schemas [--seconds 5] [--connections 32] [--rounds 3]
Needs ``wrk`` (apt-get install wrk).
"""

import argparse
import statistics
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema_rs
import orjson
import redis

from bench.bench_api import start_api
from bench.bench_ingest import Body, Run, wrk
from sluicegate.embedded.server import EmbeddedServer
from tests.api.contracts.orders import GOOD_ORDER, ORDER_SCHEMA, write_schemas

BAD_ORDER = {**GOOD_ORDER, "order_id": "A-1", "status": "lost", "total": "12"}


def _jsonschema_rs() -> Callable[[str], object]:
    validator = jsonschema_rs.validator_for(ORDER_SCHEMA)

    def check(text: str) -> object:
        document = orjson.loads(text)
        if validator.is_valid(document):
            return []
        return [(e.instance_path, e.message) for e in validator.iter_errors(document)]

    return check


def _fastjsonschema() -> Callable[[str], object]:
    validate = fastjsonschema.compile(ORDER_SCHEMA)

    def check(text: str) -> object:
        try:
            return validate(orjson.loads(text))
        except fastjsonschema.JsonSchemaValueException as error:
            return [(error.path, error.message)]  # the first violation only

    return check


def validators(number: int = 20_000) -> None:
    print(f"{'validator':<16}{'valid µs/event':>16}{'invalid µs/event':>18}{'errors reported':>17}")
    parse_only: Callable[[str], Any] = orjson.loads
    rows = [("parse only", parse_only), ("jsonschema-rs", _jsonschema_rs())]
    rows.append(("fastjsonschema", _fastjsonschema()))
    good, bad = orjson.dumps(GOOD_ORDER).decode(), orjson.dumps(BAD_ORDER).decode()
    for name, check in rows:
        times = [_per_call_us(check, text, number) for text in (good, bad)]
        found = check(bad)
        reported = len(found) if isinstance(found, list) else "-"
        print(f"{name:<16}{times[0]:>16.2f}{times[1]:>18.2f}{reported!s:>17}", flush=True)


def _per_call_us(check: Callable[[str], object], text: str, number: int) -> float:
    """The best of five runs of ``number`` calls, per call."""
    return min(timeit.repeat(lambda: check(text), number=number, repeat=5)) / number * 1e6


def bodies() -> list[Body]:
    def event(n: int) -> dict[str, object]:
        return {"event_id": f"order-{n}", "payload": {**GOOD_ORDER, "items": n + 1}}

    return [
        Body("single", 1, orjson.dumps(event(0))),
        Body("batch 100", 100, orjson.dumps([event(n) for n in range(100)])),
    ]


def ingest(seconds: float, connections: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        server = EmbeddedServer(folder / "redis").start()
        schemas = write_schemas(folder, "reject", queues='["bench"]')
        started = [
            start_api(server.url, "auto"),
            start_api(server.url, "auto", {"SCHEMAS_FILE": str(schemas)}),
        ]
        try:
            _compare(dict(zip(("none", "schema"), started, strict=True)), folder, server.url,
                     (seconds, connections, rounds))  # fmt: skip
        finally:
            for process, _ in started:
                process.terminate()
                process.wait(timeout=15)
            server.kill()


def _compare(apis: dict[str, Any], folder: Path, url: str, load: tuple[float, int, int]) -> None:
    seconds, connections, rounds = load
    flush = redis.Redis.from_url(url)
    print(f"\n{'body':<11}{'none req/s':>11}{'schema req/s':>13}{'ratio':>7}"
          f"{'none cpu ms':>12}{'schema cpu ms':>14}{'cpu ratio':>10}")  # fmt: skip
    for body in bodies():
        runs: dict[str, list[Run]] = {name: [] for name in apis}
        for round_number in range(rounds):
            order = list(apis) if round_number % 2 == 0 else list(reversed(apis))
            for api in order:
                process, port = apis[api]
                flush.flushall()
                wrk(port, body, 1, connections, folder, process.pid)  # warm up
                flush.flushall()
                runs[api].append(wrk(port, body, seconds, connections, folder, process.pid))
        rate = {n: statistics.median(r.requests_per_s for r in runs[n]) for n in apis}
        cpu = {n: statistics.median(r.cpu_ms_per_request for r in runs[n]) for n in apis}
        print(f"{body.name:<11}{rate['none']:>11.0f}{rate['schema']:>13.0f}"
              f"{rate['schema'] / rate['none']:>7.2f}{cpu['none']:>12.3f}{cpu['schema']:>14.3f}"
              f"{cpu['none'] / cpu['schema']:>10.2f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    validators()
    ingest(args.seconds, args.connections, args.rounds)


if __name__ == "__main__":
    main()
