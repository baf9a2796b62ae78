import os
import socket
import subprocess
import sys

from sluicegate.process.liveness import is_gone, process_name


def reaped_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_process_name_says_host_namespace_and_pid():
    host, namespace, pid = process_name().rsplit(":", 2)
    assert (host, pid) == (socket.gethostname(), str(os.getpid()))
    assert namespace.isdigit()


def test_only_a_certainly_dead_process_is_gone():
    assert not is_gone(process_name())  # this very process
    assert is_gone(process_name(reaped_pid()))


def test_elsewhere_or_unreadable_is_never_gone():
    pid = reaped_pid()
    namespace = process_name().rsplit(":", 2)[1]
    assert not is_gone(f"another-host:{namespace}:{pid}")
    assert not is_gone(f"{socket.gethostname()}:1:{pid}")  # another pid namespace
    assert not is_gone("legacy-host:4242")
    assert not is_gone("")
