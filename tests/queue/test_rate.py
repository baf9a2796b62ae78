"""GCRA per token in Redis (queue/rate.py): burst at once, then one request per interval."""

import asyncio

import pytest

from sluicegate.queue.client import async_client
from sluicegate.queue.rate import Rate, parse_rate, wait_s


@pytest.mark.parametrize(
    ("text", "burst", "rate"),
    [
        ("500/s", None, Rate(500.0, 500)),
        ("30/m", None, Rate(0.5, 1)),
        (" 7200 / h ", 3, Rate(2.0, 3)),
        ("2.5/s", 1, Rate(2.5, 1)),
    ],
)
def test_rates_parse(text, burst, rate):
    assert parse_rate(text, burst) == rate


@pytest.mark.parametrize(
    ("text", "burst"), [("500", None), ("0/s", None), ("5/d", None), ("5/s", 0)]
)
def test_a_bad_rate_says_what_is_wrong(text, burst):
    with pytest.raises(ValueError, match=r"rate|burst"):
        parse_rate(text, burst)


def test_a_burst_goes_at_once_then_one_request_per_interval(redis_server):
    async def run() -> list[float]:
        client = async_client(redis_server.url)
        try:
            rate = Rate(per_s=10.0, burst=3)  # one request per 100 ms
            return [await wait_s(client, "billing", rate) for _ in range(4)]
        finally:
            await client.aclose()

    waits = asyncio.run(run())
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0.05 < waits[3] <= 0.1  # the fourth waits for the first interval to pass


def test_tokens_have_budgets_of_their_own(redis_server):
    async def run() -> tuple[float, float]:
        client = async_client(redis_server.url)
        try:
            rate = Rate(per_s=1.0, burst=1)
            await wait_s(client, "a", rate)
            return await wait_s(client, "a", rate), await wait_s(client, "b", rate)
        finally:
            await client.aclose()

    a, b = asyncio.run(run())
    assert a > 0.5
    assert b == 0.0
