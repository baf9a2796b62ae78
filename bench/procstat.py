"""CPU seconds of a process, and of a whole process tree, read from /proc (Linux).

A benchmark's figure per process is the difference of two readings. A tree's reading is the
root's own time, the time of the children it has reaped (``cutime`` + ``cstime``: a consumer
that exited), and the same for every child still running, so a consumer forked or gone between
two readings is counted once either way.
"""

import os

from sluicegate.drill.procs import children_of, stat_fields

_TICKS_S = os.sysconf("SC_CLK_TCK")
_UTIME, _STIME, _CUTIME, _CSTIME = 11, 12, 13, 14  # indexes after the command name


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` itself (all its threads); 0 once it is gone."""
    fields = stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[_UTIME]) + int(fields[_STIME])) / _TICKS_S


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid``, of the children it reaped, and of its live descendants."""
    fields = stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = sum(int(fields[index]) for index in (_UTIME, _STIME, _CUTIME, _CSTIME))
    return ticks / _TICKS_S + sum(tree_cpu_s(child) for child in children_of(pid))
