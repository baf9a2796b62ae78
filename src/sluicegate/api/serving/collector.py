"""The cyclic garbage collector set for a server whose requests live across awaits.

A request's objects (its events, their lists) stay alive while it waits for Valkey, so with the
default first threshold (700) the young collections kept moving them to the older generations,
and now and then a full collection walked every object left from start-up as well (about 80,000:
FastAPI's, pydantic's, the routes'), tens of ms at a time. Under ``bench_ingest``'s batches of 100
(``gc.callbacks``, CPU time, load average ~10), collections took 0.012-0.018 ms of CPU per request
(2-3 % of the API's), and 0.003-0.006 ms with the settings here (perf, sampling: about 6 % in the
collector's functions before, under 1 % after, noisy). Start-up's objects are frozen (no collection
walks them again) and the first threshold is raised, so fewer requests are caught in flight by a
collection. Reference cycles are still collected, only later.
"""

import gc

YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Once the app is built, before serving: collect, freeze what is left, raise the threshold."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
