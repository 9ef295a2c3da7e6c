"""How the Streamlit pages scale: each page's AppTest run on a database of N demo calls
(default 1,000,000) as a ratio to the same page on an empty database, and the most call rows
any page pulls into memory.

    python -m bench.ui_bench                 # 1,000,000 calls (seeding takes a few minutes)
    python -m bench.ui_bench --calls 50000   # a quick run

Targets: every page at most 3x its empty-database time; no page holds more rows than one page
of the table (ui.queries.PAGE_ROWS). "Cold" runs every query (first view since the process
started or the shared cache expired); "warm" is the next view from any session.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")

_TODAY = datetime.now(UTC).date()
_LAST_30_DAYS = [(_TODAY - timedelta(days=29)).isoformat(), _TODAY.isoformat()]

# (label, page file, query parameters): each page as it opens, and the widest usual windows.
PAGES: list[tuple[str, str, dict[str, Any]]] = [
    ("Dashboard", "pages/dashboard.py", {}),
    ("Dashboard, 30 days", "pages/dashboard.py", {"period": "Last 30 days"}),
    ("Trigger call", "pages/trigger_call.py", {}),
    ("Conversations", "pages/conversations.py", {}),
    ("Conversations, filtered", "pages/conversations.py", {"outcome": "Emergency Escalation"}),
    ("Conversations, search", "pages/conversations.py", {"q": "flat tire"}),
    ("Analytics: Retell", "pages/analytics.py", {}),
    ("Analytics: Pipecat", "pages/analytics.py", {"tab": "Pipecat"}),
    ("Analytics: Compare", "pages/analytics.py", {"tab": "Compare"}),
    ("Analytics: Retell, 30 days", "pages/analytics.py", {"range": _LAST_30_DAYS}),
    (
        "Analytics: Compare, 30 days",
        "pages/analytics.py",
        {"tab": "Compare", "range": _LAST_30_DAYS},
    ),
]


@dataclass
class RowCounter:
    """Counts the call rows the Store hands to the app during one page run."""

    rows_this_run: int = 0

    def add(self, rows: int) -> None:
        self.rows_this_run += rows


class CountingStore:
    """Delegates to the real Store; counts every call row it returns (measurement only)."""

    def __init__(self, store: Any, counter: RowCounter) -> None:
        self._store = store
        self._counter = counter

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def search_calls(self, *args: Any, **kwargs: Any) -> Any:
        page = self._store.search_calls(*args, **kwargs)
        self._counter.add(len(page.items))
        return page

    def pipecat_metrics(self, *args: Any, **kwargs: Any) -> Any:
        result = self._store.pipecat_metrics(*args, **kwargs)
        self._counter.add(len(result.items))
        return result

    def get_call(self, *args: Any, **kwargs: Any) -> Any:
        call = self._store.get_call(*args, **kwargs)
        self._counter.add(call is not None)
        return call

    def iter_calls(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for call in self._store.iter_calls(*args, **kwargs):
            self._counter.add(1)
            yield call


def seed(database_url: str, calls: int) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    python = sys.executable
    subprocess.run([python, "-m", "db", "migrate"], cwd=ROOT, env=env, check=True)
    if calls:
        subprocess.run(
            [python, "-m", "db", "seed", "--calls", str(calls), "--quiet"],
            cwd=ROOT,
            env=env,
            check=True,
        )


def _use_database(database_url: str) -> None:
    from settings import get_settings

    os.environ["DATABASE_URL"] = database_url
    get_settings.cache_clear()


def run_page(page: str, params: dict[str, Any], *, cold: bool) -> float:
    """Seconds for one AppTest run of the page; `cold` empties the shared query cache first
    (the store stays open either way)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    if cold:
        st.cache_data.clear()
    app = AppTest.from_file(APP, default_timeout=600)
    for name, value in params.items():
        app.query_params[name] = value
    started = time.perf_counter()
    app.switch_page(page).run()
    elapsed = time.perf_counter() - started
    problems = [e.value for e in app.exception] + [e.value for e in app.error]
    if problems:
        raise RuntimeError(f"{page} {params} failed: {problems}")
    return elapsed


def time_pages(databases: dict[str, str], repeat: int) -> tuple[dict, dict]:
    """Median seconds per (database, page, cold|warm) and peak rows per (database, page).

    Cold: the first view of that data since the process started or the cache expired (every
    query runs). Warm: the next view, from any session, while the shared cache is fresh. The
    databases alternate run by run so both see the same machine load."""
    import db

    counter = RowCounter()
    real_open_store = db.open_store
    db.open_store = lambda settings: CountingStore(real_open_store(settings), counter)
    timings: dict[tuple[str, str, str], list[float]] = {}
    peaks: dict[tuple[str, str], int] = {}
    try:
        for label, page, params in PAGES:
            for attempt in range(repeat + 1):  # the first round warms imports and stores
                for name, url in databases.items():
                    _use_database(url)
                    for mode in ("cold", "warm"):
                        counter.rows_this_run = 0
                        elapsed = run_page(page, params, cold=mode == "cold")
                        peaks[name, label] = max(peaks.get((name, label), 0), counter.rows_this_run)
                        if attempt:
                            timings.setdefault((name, label, mode), []).append(elapsed)
    finally:
        db.open_store = real_open_store
    return {k: statistics.median(v) for k, v in timings.items()}, peaks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per page (median)")
    parser.add_argument("--keep", type=Path, help="reuse/keep the seeded database file here")
    args = parser.parse_args(argv)
    from streamlit.logger import set_log_level

    set_log_level("error")  # AppTest outside a server logs a line per cache otherwise

    from ui.queries import PAGE_ROWS

    with tempfile.TemporaryDirectory(prefix="ui_bench_") as tmp:
        empty_url = f"sqlite:///{Path(tmp) / 'empty.db'}"
        full_path = args.keep or Path(tmp) / "full.db"
        full_url = f"sqlite:///{full_path}"
        seed(empty_url, 0)
        if not full_path.exists():
            started = time.perf_counter()
            print(f"Seeding {args.calls:,} demo calls…", flush=True)
            seed(full_url, args.calls)
            print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)

        timings, peaks = time_pages({"empty": empty_url, "full": full_url}, args.repeat)

    print(f"\nPage run time with {args.calls:,} calls vs an empty database (target <= 3x)")
    print(f"{'page':<30}{'empty s':>9}{'cold s':>9}{'cold':>8}{'warm s':>9}{'warm':>8}{'rows':>7}")
    worst = {"cold": 0.0, "warm": 0.0}
    for label, *_ in PAGES:
        empty = timings["empty", label, "cold"]
        cold, warm = timings["full", label, "cold"], timings["full", label, "warm"]
        worst["cold"] = max(worst["cold"], cold / empty)
        worst["warm"] = max(worst["warm"], warm / empty)
        print(
            f"{label:<30}{empty:>9.3f}{cold:>9.3f}{cold / empty:>7.2f}x"
            f"{warm:>9.3f}{warm / empty:>7.2f}x{peaks['full', label]:>7}"
        )
    peak = max(peaks[key] for key in peaks if key[0] == "full")
    for mode, ratio in worst.items():
        verdict = "met" if ratio <= 3 else "NOT met"
        print(f"Worst {mode} ratio: {ratio:.2f}x (target <= 3x): {verdict}")
    print(
        f"Peak call rows any page held: {peak} (one table page is {PAGE_ROWS}): "
        f"{'met' if peak <= PAGE_ROWS else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
