"""The app in a real browser: `streamlit run app.py` and the voice server as subprocesses on
free ports, one seeded SQLite file, Debian's Chromium driven by Playwright. Saves a screenshot
of every page under docs/screenshots/."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bench.processes import stop, wait_until_up
from db import open_store
from db.models import CallFilters, Provider
from settings import load_settings
from tests.conftest import ROOT, free_port, without_cloud_keys

pytestmark = pytest.mark.browser

SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
API_KEY = "browser-test-key"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def seed_database(database_url: str) -> None:
    """Demo data when the generator is available, plus calls the tests know by name."""
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "db", "migrate"], cwd=ROOT, env=env, check=True)
    if (ROOT / "db" / "seed.py").exists():
        subprocess.run(
            [sys.executable, "-m", "db", "seed", "--calls", "2000", "--quiet"],
            cwd=ROOT,
            env=env,
            check=True,
        )
    from tests.ui.demo_calls import add_known_calls

    store = open_store(load_settings(database_url=database_url))
    try:
        add_known_calls(store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("browser")
    database_url = f"sqlite:///{tmp / 'dispatch.db'}"
    seed_database(database_url)
    voice_port, app_port = free_port(), free_port()
    env = without_cloud_keys(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DISPATCH_API_KEY=API_KEY,
        DISPATCH_TRANSFER_NUMBER="+15025550199",
        PIPECAT_API_KEY="browser-test-pipecat-key",
        VOICE_SERVER_URL=f"http://127.0.0.1:{voice_port}",
        OUTBOX_PATH=str(tmp / "outbox.jsonl"),
        PIPECAT_SPOOL_PATH=str(tmp / "spool.jsonl"),
    )
    bin_dir = Path(sys.executable).parent
    voice = subprocess.Popen(
        [str(bin_dir / "uvicorn"), "voice_server.main:app", "--host", "127.0.0.1",
         "--port", str(voice_port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    app = subprocess.Popen(
        [str(bin_dir / "streamlit"), "run", "app.py", "--server.port", str(app_port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{voice_port}/healthz", voice, "the voice server")
        wait_until_up(f"http://127.0.0.1:{app_port}/_stcore/health", app, "streamlit")
        yield {"app": f"http://127.0.0.1:{app_port}", "database_url": database_url}
    finally:
        stop(app, voice, timeout=10)


def shoot(page: Page, name: str) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so the viewport
    grows to the content's height first."""
    height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(max(int(height) + 200, 1000), 4000)})
    page.wait_for_timeout(800)
    page.wait_for_selector(IDLE)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(60_000)
    yield opened
    context.close()


def visit(page: Page, url: str, heading: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
    page.wait_for_selector(IDLE)
    assert page.locator('[data-testid="stException"]').count() == 0
    # The app's own navigation (app.py), not Streamlit's legacy listing of the pages/ folder.
    expect(page.locator('[data-testid="stSidebarNav"]')).to_contain_text("Operations")


def test_a_call_link_opened_first_on_a_fresh_server_shows_the_conversation(
    servers: dict[str, str], page: Page
) -> None:
    """The first URL this server serves is a deep link (kept first in this module)."""
    from tests.ui.demo_calls import EMERGENCY_CALL_ID

    visit(page, f"{servers['app']}/conversations?call={EMERGENCY_CALL_ID}", "Conversations")
    expect(page.get_by_text("Structured result")).to_be_visible()
    expect(page.get_by_text("my trailer tire blew out").first).to_be_visible()
    shoot(page, "conversation_detail")


@pytest.mark.parametrize(
    ("path", "heading", "shot"),
    [
        ("", "Dispatch dashboard", "dashboard"),
        ("trigger_call", "Trigger a call", "trigger_call"),
        ("conversations", "Conversations", "conversations"),
        ("analytics", "Analytics", "analytics"),
        ("analytics?tab=Compare", "Analytics", "analytics_compare"),
    ],
)
def test_every_page_renders(
    servers: dict[str, str], page: Page, path: str, heading: str, shot: str
) -> None:
    visit(page, f"{servers['app']}/{path}", heading)
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    if shot.startswith("analytics"):
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        page.wait_for_timeout(1000)  # let Plotly finish drawing before the screenshot
    if shot == "dashboard":
        expect(page.get_by_text("Completion rate")).to_be_visible()
    shoot(page, shot)


def test_the_filtered_csv_download_holds_exactly_the_filtered_calls(
    servers: dict[str, str], page: Page, tmp_path: Path
) -> None:
    visit(page, f"{servers['app']}/conversations?outcome=Emergency+Escalation&engine=Pipecat",
          "Conversations")  # fmt: skip
    store = open_store(load_settings(database_url=servers["database_url"]))
    expected = store.search_calls(
        CallFilters(call_outcome="Emergency Escalation", provider=Provider.PIPECAT), page_size=1
    ).total
    store.close()
    assert expected > 0
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / "calls.csv"
    download_info.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert len(rows) == expected
    assert {row["call_outcome"] for row in rows} == {"Emergency Escalation"}
    assert {row["provider"] for row in rows} == {"pipecat"}


def test_a_simulated_call_completes_and_then_appears_in_conversations(
    servers: dict[str, str], page: Page
) -> None:
    visit(page, f"{servers['app']}/trigger_call", "Trigger a call")
    page.get_by_label("Driver name").fill("Rosa Browser")
    page.get_by_label("Load number").fill("SIM-4242")
    page.get_by_text("Simulated call", exact=True).click()
    page.get_by_role("button", name="Start call").click()
    messages = page.locator('[data-testid="stChatMessage"]')
    expect(messages.first).to_contain_text("Rosa")
    chat_box = page.locator('[data-testid="stChatInputTextArea"]')
    result_heading = page.get_by_text("Structured result", exact=True)
    expect(chat_box).to_be_visible()
    for turn in (
        "I just had an accident, I hit the guardrail",
        "Nobody is hurt, everyone is safe",
        "I'm on I-10 at mile marker 42 near Indio",
        "Yes the load is secure",
        "Call me back on 760 555 0142",
    ):
        count = messages.count()
        chat_box.fill(turn)
        chat_box.press("Enter")
        expect(messages).to_have_count(count + 2)  # the driver's turn and the agent's answer
        page.wait_for_selector(IDLE)
        if result_heading.count():
            break
    expect(result_heading).to_be_visible(timeout=30_000)
    # A simulated call has no phone line: the office is alerted and calls back, nobody is
    # promised a transfer, and the alert is counted in the sidebar.
    expect(page.get_by_text("The agent ended the call")).to_be_visible()
    expect(page.get_by_text("alerted the dispatch office").first).to_be_visible()
    expect(page.get_by_text("1 open emergency").first).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Emergency Escalation").first).to_be_visible()
    expect(chat_box).to_have_count(0)
    shoot(page, "simulated_call")

    visit(page, f"{servers['app']}/conversations?load=SIM-4242", "Conversations")
    expect(page.get_by_text("1 matching call", exact=True).first).to_be_visible()
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_contain_text("Rosa Browser", timeout=30_000)
