"""The drill's commit-before-ack hook: one consumer claims the request and stops itself there;
a request for another destination, or none, leaves every consumer running."""

import os
import signal
import subprocess
import sys

from sluicegate.drill import hook
from sluicegate.drill.procs import is_stopped, wait_gone
from tests.waiting import wait_for

PAUSE = "from pathlib import Path; import sys; from sluicegate.drill.hook import pause_if_aimed; "


def test_the_first_consumer_after_a_commit_of_the_aimed_kind_stops_itself(tmp_path):
    (tmp_path / hook.AIM).write_text("delta")
    assert not hook.pause_if_aimed(tmp_path, "sql")  # another destination's
    code = PAUSE + "print(pause_if_aimed(Path(sys.argv[1]), 'delta'))"
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)])
    try:
        caught = tmp_path / f"{hook.CAUGHT}{child.pid}"
        wait_for(lambda: caught.exists() and is_stopped(child.pid), timeout_s=20)
        assert not (tmp_path / hook.AIM).exists()  # claimed: nobody else stops
        assert not hook.pause_if_aimed(tmp_path, "delta")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert wait_gone([child.pid], timeout_s=5) == []


def test_the_hook_is_installed_only_for_a_delta_drill(tmp_path):
    assert hook.install(tmp_path, wanted=False) == (None, {})
    folder, env = hook.install(tmp_path, wanted=True)
    assert folder == tmp_path / "hook"
    assert folder.is_dir()
    assert env == {"CONSUMER_CLASS": hook.CLASS_PATH, hook.VARIABLE: str(folder)}
