"""The cyclic garbage collector set for long-lived processes that allocate per batch or request.

Both the API and a consumer hold many short-lived containers at once (a request's events while
it waits for Valkey; a read of 500 entries as tuples and lists), so with the default first
threshold (700) young collections ran every request or batch, only to find those objects alive,
and now and then a full collection walked every object left from start-up (FastAPI's, pydantic's
and the routes' in the API, about 80,000; the heap a consumer inherits from the agent, about
60,000). Measured (issue 21): in the API under ``bench_ingest``'s batches of 100, collections
took 0.012-0.018 ms of CPU per request and 0.003-0.006 with these settings; in a consumer, reads
of 500 x 200 B, 2.1-2.3 of its 13.6-14.0 µs an event, none with them. Start-up's objects are
frozen (no collection walks them again) and the first threshold is raised. Reference cycles are
still collected, only later.
"""

import gc

YOUNG_THRESHOLD = 10_000


def settle(collect_first: bool) -> None:
    """Freeze what lives now and raise the young generation's threshold, once, before serving.
    ``collect_first``: collect start-up's garbage before freezing it (the API). A forked
    consumer does not: a collection would write to every inherited page (copy-on-write)."""
    if collect_first:
        gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
