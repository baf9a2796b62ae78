"""A client that does the producer's half of "never lose an event" (docs/client.md).

Every event gets its id before its first attempt and keeps it on every retry; batches are retried
on 429, 502, 503, 504 and connection errors with backoff and ``Retry-After`` until a deadline; the
result says which ids were accepted (stored), refused (not stored) or unknown (out of time after a
try that may have landed: send them again later, with the same ids).

    from sluicegate.client import Client, ClientOptions

    with Client("http://127.0.0.1:8000", ClientOptions(token="sgt_...")) as client:
        client.add("orders", {"order": 1234})          # batched by size and time
        result = client.send("orders", [{"event_id": "o-1", "payload": {"n": 1}}])  # now
    print(result.accepted, result.refused, result.unknown)

``AsyncClient`` is the same for asyncio (``await client.add(...)``).
"""

from sluicegate.client.aio import AsyncClient
from sluicegate.client.policy import ClientOptions, Observer, Outcome, PendingEvent, Result
from sluicegate.client.sync import Client

__all__ = [
    "AsyncClient",
    "Client",
    "ClientOptions",
    "Observer",
    "Outcome",
    "PendingEvent",
    "Result",
]
