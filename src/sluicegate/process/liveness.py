"""Is a process that holds a lock or pending entries really gone?

Answered "gone" only when it can be known for certain: the process ran on this host, in this pid
namespace (a restarted container keeps its hostname but gets a new namespace, where pids mean
other processes), and no process has that pid now. Otherwise the answer is "maybe alive", and the
lock's TTL and the entries' idle time decide, as they always do. A zombie counts as alive.
"""

import os
import socket


def _pid_namespace() -> str:
    try:
        link = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return ""
    return link.removeprefix("pid:[").removesuffix("]")


def process_name(pid: int | None = None) -> str:
    """``host:namespace:pid``: names a process unambiguously (consumer names, lock entries)."""
    return f"{socket.gethostname()}:{_pid_namespace()}:{pid if pid is not None else os.getpid()}"


def is_gone(name: str) -> bool:
    """True when the process ``name`` (see ``process_name``) certainly no longer exists."""
    place, _, pid = name.rpartition(":")
    here = process_name(0).rpartition(":")[0]
    if place != here or not _pid_namespace() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, another user's
        return False
    return False
