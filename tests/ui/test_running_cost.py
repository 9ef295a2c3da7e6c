"""What `make run` costs at rest: the Streamlit app it starts watches no files.

Streamlit's default watcher follows the whole checkout (a `.venv` is thousands of folders): an
inotify watch per folder, "Inotify queue overflowed" floods and minutes of CPU. The app is started
exactly as the Procfile's `web` line says, with a real browser session open on it, and the
process's inotify watches are counted (`bench/idle_bench.py` measures the CPU).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from bench.processes import procfile_command
from tests.conftest import ROOT, free_port
from tests.ui.test_browser import CHROMIUM, IDLE, wait_until_up

pytestmark = pytest.mark.browser


def inotify_watches(pid: int) -> int:
    """Watches held by the process's inotify instances (one `inotify wd:` line each)."""
    count = 0
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    for entry in fdinfo.iterdir():
        try:
            count += entry.read_text().count("inotify wd:")
        except OSError:  # the descriptor closed meanwhile
            continue
    return count


def test_the_app_make_run_starts_watches_no_files(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'idle.db'}"}
    env = {k: v for k, v in env.items() if not k.startswith("STREAMLIT_")}
    subprocess.run([sys.executable, "-m", "db", "migrate"], cwd=ROOT, env=env, check=True)
    app = subprocess.Popen(
        procfile_command("web", port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url + "/_stcore/health", app, "streamlit")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector(IDLE, timeout=60_000)
            # A session is open: the script ran, so anything Streamlit watches is watched now.
            assert inotify_watches(app.pid) == 0
            browser.close()
    finally:
        app.terminate()
        app.wait(timeout=15)
