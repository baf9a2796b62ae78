"""/metrics: Prometheus text with the figures an operator needs."""

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.anyio


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_events_requests_latency_and_mode(api: httpx.AsyncClient) -> None:
    await api.post("/v1/events/orders", json=[{"payload": {}}, {"payload": {}}])
    await api.post("/v1/events/orders", content=b"{", headers={"content-type": "application/json"})
    await api.get("/nowhere")

    response = await api.get("/metrics")

    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found["sluicegate_api_events_accepted_total", (("queue", "orders"),)] == 2
    route = "/v1/events/{queue}"
    assert (
        found[
            "sluicegate_api_requests_total",
            (("method", "POST"), ("route", route), ("status", "202")),
        ]
        == 1
    )
    assert (
        found[
            "sluicegate_api_requests_total",
            (("method", "POST"), ("route", route), ("status", "400")),
        ]
        == 1
    )
    assert (
        found[
            "sluicegate_api_requests_total",
            (("method", "GET"), ("route", "unmatched"), ("status", "404")),
        ]
        == 1
    )
    assert found["sluicegate_api_enqueue_seconds_count", ()] == 1
    mode = (("sluicegate_api_durability", "waitaof"),)
    assert found["sluicegate_api_durability", mode] == 1
