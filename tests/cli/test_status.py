"""sluicegate status: the same figures as GET /v1/queues, and --watch with rates until Ctrl-C."""

import io
import signal
import subprocess
import sys

from rich.console import Console

from sluicegate.cli.status import gather, watch
from sluicegate.repository.sqlite import SqliteRepository
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
