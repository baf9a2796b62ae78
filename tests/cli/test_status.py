"""sluicegate status: the same figures as GET /v1/queues, and --watch with rates until Ctrl-C."""

import io
import json
import signal
import subprocess
import sys

from rich.console import Console

from sluicegate.cli.status import gather, watch
from sluicegate.queue import keys
from sluicegate.queue.reader import QueueReader
from sluicegate.repository.sqlite import SqliteRepository
from tests.in_process import run_in_process
from tests.loading import enqueue, make_events
from tests.waiting import wait_for


def test_watch_redraws_with_in_and_out_rates(settings, redis_client):
    repository = SqliteRepository(settings.sqlite_filepath)
    samples = iter([0, 30])

    def sample():
        enqueue(settings.redis_url, make_events("orders", next(samples)) or [])
        return gather(redis_client, repository)

    enqueue(settings.redis_url, make_events("orders", 1))
    out = io.StringIO()
    watch(sample, Console(file=out, width=200, force_terminal=False), interval_s=0.1, rounds=2)
    text = out.getvalue()
    assert "in/s" in text
    assert "holds" in text
    last_row = [line for line in text.splitlines() if "orders" in line][-1]
    in_rate = int(last_row.split("│")[2].replace(",", ""))
    assert in_rate > 0  # 30 events between the two samples


# Started as from a terminal, where Ctrl-C has its default disposition. A suite run as a
# background job of a non-interactive shell has SIGINT ignored; Python keeps an inherited SIG_IGN,
# and so does every process the tests start: `status --watch` then outlived its SIGINT (its
# /proc status showed SigIgn with SIGINT set), while the agent and the API install handlers of
# their own and are not affected.
AS_FROM_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'sluicegate'; runpy.run_module('sluicegate', run_name='__main__')"
)


def test_watch_runs_until_ctrl_c(subprocess_env, settings, tmp_path):
    enqueue(settings.redis_url, make_events("orders", 3))
    output = tmp_path / "watch.out"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", AS_FROM_A_TERMINAL, "status", "--watch"],
            env={**subprocess_env, "COLUMNS": "200", "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: "in/s" in output.read_text(), timeout_s=45, message="a first table")
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0, output.read_text()
        finally:
            process.kill()
    assert "orders" in output.read_text()


def test_each_destination_shows_the_rows_of_its_own_store(subprocess_env, redis_client, tmp_path):
    """The file's destinations each read their own store; a group no destination of the file
    owns (left behind) has no store to read."""
    archive = tmp_path / "archive.db"
    destinations = tmp_path / "destinations.toml"
    destinations.write_text(
        f'[destinations.sql]\nkind = "sql"\n[destinations.archive]\nkind = "sql"\n'
        f'url = "sqlite:///{archive}"\n'
    )
    enqueue(subprocess_env["REDIS_URL"], make_events("orders", 3))
    starts = [(keys.consumer_group(name), "0") for name in ("sql", "archive", "gone")]
    reader = QueueReader(redis_client, "orders", "c1", "archive", starts)
    reader.ensure_groups()
    batch = reader.read_new(3, block_ms=None)
    store = SqliteRepository(archive)
    store.persist([delivery.event for delivery in batch])
    store.close()
    reader.ack(batch, persisted=3, duplicates=0)
    env = {**subprocess_env, "DESTINATIONS_FILE": str(destinations)}
    result = run_in_process(env, "status", "--json")
    assert result.returncode == 0, result.stderr
    lanes = {lane["destination"]: lane for lane in json.loads(result.stdout)}
    assert (lanes["sql"]["rows_in_database"], lanes["sql"]["queued"]) == (0, 3)
    assert (lanes["archive"]["rows_in_database"], lanes["archive"]["persisted"]) == (3, 3)
    assert lanes["archive"]["oldest_stored_at_ms"] is not None
    assert (lanes["gone"]["rows_in_database"], lanes["gone"]["queued"]) == (None, 3)
