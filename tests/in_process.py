"""``sluicegate`` commands run inside the test's own process: the console script's entry point
(``sluicegate.cli.main``) with the argv and environment ``run_sluicegate`` would give a
subprocess, its output and exit code captured the same way. A new Python process costs 0.6-0.8 s
of CPU before the command does anything; for a command that reads, prints and exits, the process
proves nothing more. (``tests.processes.run_sluicegate`` stays for what only a process shows.)"""

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from unittest import mock

import structlog

from sluicegate.cli import main


def run_in_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``sluicegate *args`` here, with exactly ``env`` as its environment; logging is put back as
    it was afterwards (the command configures it on the captured stderr)."""
    out, err = io.StringIO(), io.StringIO()
    logging_before = structlog.get_config()
    code: int | str | None = 0
    try:
        with (
            mock.patch.dict(os.environ, env, clear=True),
            mock.patch.object(sys, "argv", ["sluicegate", *args]),
            redirect_stdout(out),
            redirect_stderr(err),
        ):
            main()
    except SystemExit as exit_:
        code = exit_.code
    finally:
        structlog.configure(**logging_before)
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(
        ["sluicegate", *args], returncode, out.getvalue(), err.getvalue()
    )
