"""sluicegate status: the same figures as GET /v1/queues, and --watch with rates until Ctrl-C."""

import io
import signal
import subprocess
import sys
from pathlib import Path

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


def test_watch_runs_until_ctrl_c(subprocess_env, settings, tmp_path):
    enqueue(settings.redis_url, make_events("orders", 3))
    output = tmp_path / "watch.out"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "sluicegate", "status", "--watch"],
            env={
                **subprocess_env,
                **{"COLUMNS": "200", "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"},
                "PYTHONFAULTHANDLER": "1",  # a SIGABRT prints every thread's stack
            },
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: "in/s" in output.read_text(), timeout_s=45, message="a first table")
            process.send_signal(signal.SIGINT)
            assert _exit_code(process, output) == 0, output.read_text()
        finally:
            process.kill()
    assert "orders" in output.read_text()


def _exit_code(process: subprocess.Popen[bytes], output: Path) -> int:
    """Its exit code; if it outlives 30 s, its signal state and stacks in the failure."""
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        status = Path(f"/proc/{process.pid}/status").read_text()
        masks = [line for line in status.splitlines() if line.startswith(("Sig", "Shd"))]
        process.send_signal(signal.SIGABRT)
        process.wait(timeout=10)
        raise AssertionError(f"no exit 30 s after SIGINT; {masks}\n{output.read_text()}") from None
