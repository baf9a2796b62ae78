"""The yardstick for the API's hot path: the least an ingest endpoint can do on the same stack.

A bare Starlette app on uvicorn (uvloop, httptools): parse the JSON body (one object or an array),
XADD each event and ``WAITAOF 1 0`` in one pipeline on one connection, answer 202. No validation,
no limits, no metrics, no ids checked. ``bench/bench_ingest.py`` runs it beside the real API.

Usage: REDIS_URL=redis://127.0.0.1:P PORT=8001 python -m bench.bare_endpoint
"""

import os
import time

import orjson
import redis.asyncio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_client = redis.asyncio.Redis.from_url(os.environ["REDIS_URL"])


async def ingest(request: Request) -> Response:
    document = orjson.loads(await request.body())
    events = document if isinstance(document, list) else [document]
    accepted_at = time.time_ns() // 1_000_000
    async with _client.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.xadd(
                "bare:{" + request.path_params["queue"] + "}",
                {"payload": orjson.dumps(event["payload"]), "accepted_at_ms": accepted_at},
            )
        pipe.execute_command("WAITAOF", 1, 0, 5000)
        await pipe.execute()
    return Response(orjson.dumps({"accepted": len(events)}), 202, media_type="application/json")


app = Starlette(routes=[Route("/v1/events/{queue}", ingest, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ.get("PORT", "8001")),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
