"""GET /ui in a real browser (Debian's Chromium, driven by Playwright) against a real system:
an API and an agent as subprocesses, consumers persisting into SQLite."""

import os
import shutil
from pathlib import Path

import httpx
import pytest

from sluicegate.queue import keys
from sluicegate.repository.sqlite import SqliteRepository
from tests.processes import CommandProcess
from tests.queue.test_lanes import readers
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
POISON_TRIGGER = """
CREATE TRIGGER refuse_poison BEFORE INSERT ON events
WHEN json_extract(NEW.payload, '$.poison') IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'poison payload refused'); END
"""
SCREENSHOT_VARIABLE = "SLUICEGATE_DASHBOARD_SCREENSHOT"  # where to save one, if set


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("SLUICEGATE_REQUIRE_BROWSER") == "1":
            pytest.fail("SLUICEGATE_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing")
        pytest.skip("needs Debian's chromium: apt-get install chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def system(subprocess_env, settings, tmp_path):
    """API + agent; events with a "poison" payload are refused by the database (a trigger)."""
    repository = SqliteRepository(settings.sqlite_filepath)
    repository._db.execute(POISON_TRIGGER)
    env = {**subprocess_env, "PORT": "0", "LOG_LEVEL": "info", "AGENT_PORT": "0"}
    from tests.api.processes import ApiProcess

    api = ApiProcess(env, tmp_path / "api.log")
    agent = CommandProcess("agent", env, tmp_path / "agent.log")
    try:
        yield f"http://127.0.0.1:{api.port()}", repository
    finally:
        agent.close()
        api.close()
        repository.close()


def cell(page, queue: str, field: str) -> str:
    return page.locator(f'#queues tr[data-queue="{queue}"] td[data-field="{field}"]').inner_text()


def test_watch_numbers_change_dead_letter_one_and_replay_it_from_the_page(browser, system):
    url, repository = system
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/ui")
    assert "No queue has received an event yet" in page.inner_text("#panel")
    events = [{"event_id": f"e-{n}", "payload": {"n": n}} for n in range(20)]
    assert httpx.post(f"{url}/v1/events/orders", json=events).status_code == 202
    page.wait_for_selector('#queues tr[data-queue="orders"]', timeout=10_000)
    wait_for(lambda: cell(page, "orders", "persisted") == "20", message="20 persisted on the page")
    assert "accepted 20 = persisted 20" in page.inner_text("#conservation")
    poison = {"event_id": "poison-1", "payload": {"poison": True}}
    assert httpx.post(f"{url}/v1/events/orders", json=poison).status_code == 202
    wait_for(lambda: cell(page, "orders", "dead") == "1", timeout_s=20, message="one dead letter")
    dead_row = page.locator("table.dead tbody tr").first
    assert "poison payload refused" in dead_row.inner_text()
    assert "holds" in page.inner_text("#conservation")
    repository._db.execute("DROP TRIGGER refuse_poison")  # the fix is deployed: replay it
    page.once("dialog", lambda dialog: dialog.accept())
    dead_row.locator("button[data-replay]").click()
    wait_for(lambda: cell(page, "orders", "persisted") == "21", timeout_s=20, message="replayed")
    assert cell(page, "orders", "dead") == "0"
    assert "poison-1" in repository.ids("orders")
    assert page.locator("#chart-orders svg").count() == 1
    page.fill('#find input[name="event_id"]', "poison-1")  # "where is my event?"
    page.fill('#find input[name="queue"]', "orders")
    page.click("#find button")
    wait_for(lambda: '"state": "persisted"' in page.inner_text("#found"), message="found it")
    if os.environ.get(SCREENSHOT_VARIABLE):
        page.screenshot(path=os.environ[SCREENSHOT_VARIABLE], full_page=True)


def test_replay_without_the_page_header_is_refused(system):
    url, _ = system
    response = httpx.post(f"{url}/ui/replay", json={"queue": "orders", "all": True})
    assert response.status_code == 403


@pytest.mark.anyio
async def test_the_page_is_rendered_on_the_server_and_escapes_what_it_shows(api) -> None:
    await api.post("/v1/events/orders", json={"payload": {"n": 1}})
    page = await api.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-queue="orders"' in page.text
    assert "accepted 1 = persisted 0 + queued 1" in page.text
    assert "<script" in page.text
    assert "http://" not in page.text  # nothing fetched from elsewhere
    assert "https://" not in page.text
    panel = await api.get("/ui/panel")
    assert "<html" not in panel.text


@pytest.mark.anyio
async def test_each_destination_has_its_rows_line_and_dead_letters(api, redis_client) -> None:
    """Two destinations: a row and a conservation line each, and the lake's dead letter shown
    and replayed as the lake's (the default destination's shape is the test above)."""
    await api.post("/v1/events/orders", json=[{"payload": {"n": n}} for n in range(3)])
    sql, lake = readers(redis_client, "orders")
    sql.ack(sql.read_new(3, block_ms=None), persisted=3, duplicates=0)
    entry = lake.read_new(3, block_ms=None)  # the request's one entry
    refused = [(entry[0], "refused by the lake")]
    lake.dead_letter_entry(entry, refused, deliveries=3, stored=2, duplicates=0)
    panel = (await api.get("/ui/panel")).text
    assert '<tr data-queue="orders" data-destination="lake">' in panel
    assert "sql: accepted 3 = persisted 3 + queued 0 + in flight 0 + dead 0" in panel
    assert "lake: accepted 3 = persisted 2 + queued 0 + in flight 0 + dead 1" in panel
    assert "Dead letters of orders in lake (1 shown)" in panel
    assert "refused by the lake" in panel
    replayed = await api.post(
        "/ui/replay",
        json={"queue": "orders", "destination": "lake", "all": True},
        headers={"X-Sluicegate-UI": "1"},
    )
    assert replayed.json()["replayed"] == 1
    assert redis_client.xlen(keys.dead_letter_key("orders", "lake")) == 0
    assert "Dead letters of" not in (await api.get("/ui/panel")).text
