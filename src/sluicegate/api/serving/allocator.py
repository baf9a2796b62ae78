"""glibc's malloc kept from giving a request's large buffers back to the kernel between requests.

A batch's body, its payloads' texts and the packed enqueue command are each a buffer of up to a
few hundred KB (100 events of 2 KB), allocated and freed every request. glibc serves a block
that large with ``mmap`` (or trims the freed top of its heap), so the next request's buffers
are fresh pages, each faulted in and zeroed by the kernel: 13-70 minor faults per request of
100 x 2 KB, and about 6 % of ``perf``'s samples of the API (page faults, zeroing, memcg charges).
With the thresholds below, blocks up to ``MMAP_THRESHOLD_BYTES`` come from the heap and up to
``TRIM_THRESHOLD_BYTES`` of freed memory stays in the process for the next request: 1.2-1.6
faults a request, API CPU per request (median of five interleaved pairs, load average 3-9)
1.44 -> 1.38 ms; single runs range over 1.24-1.78, so the figure is rough.
The price is memory: the process keeps up to ``TRIM_THRESHOLD_BYTES`` it no longer uses.

Other C libraries (musl has no ``mallopt``) and other systems are left as they are.
"""

import ctypes
import sys

_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 8 * 1024 * 1024  # above MAX_BODY_BYTES' default (1 MiB) a few times
TRIM_THRESHOLD_BYTES = 32 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Set the thresholds, once, before serving; False where the C library has no ``mallopt``."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    trimmed = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    mapped = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    return bool(trimmed and mapped)
