"""Process trees by /proc: a whole tree is killed and reaped, whatever its process groups."""

import subprocess
import sys

from sluicegate.drill import procs
from tests.waiting import wait_for

TREE = """
import os, subprocess, sys, time
for _ in range(2):
    subprocess.Popen([sys.executable, "-c", "import os, time; os.setpgrp(); time.sleep(60)"])
print("ready", flush=True)
time.sleep(60)
"""


def test_kill_tree_kills_children_in_other_process_groups():
    root = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE)
    try:
        assert root.stdout is not None
        assert root.stdout.readline().strip() == b"ready"
        children = wait_for(
            lambda: procs.children_of(root.pid) if len(procs.children_of(root.pid)) == 2 else None,
            message="two children",
        )
        assert procs.descendants_of(root.pid) == children
        killed = procs.kill_tree(root)
        assert sorted(killed) == children
        assert root.returncode == -9
        assert not any(procs.is_alive(pid) for pid in children)
    finally:
        procs.kill_tree(root)
        if root.stdout is not None:
            root.stdout.close()


def test_a_process_that_is_gone_is_not_alive():
    done = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert done.returncode == 0
    assert not procs.is_alive(999_999_999)
    assert procs.wait_gone([999_999_999], timeout_s=0.1) == []
