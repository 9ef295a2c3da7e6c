"""Database benchmark: the Store's SQL against the naive way, measured in the same run.

    python -m bench.db_bench [--calls 1000000] [--backend sqlite|postgres|all]
                             [--timezone America/Chicago]

For each backend it seeds N demo calls, then times Retell metrics, Pipecat metrics, a full-text
search, a filtered page and a full export through the Store, and the same five things done
naively: load every row into pandas, then filter and aggregate in Python. Per-day figures are
days in the office's zone (--timezone, an office with daylight time by default); the time the
Store takes to re-key the daily rollups of every call to another zone and back (what changing
DISPATCH_TIMEZONE costs at the next start) is printed too. Each figure is printed
as a ratio (naive time / Store time), with a check that both gave the same answer, and the export
is printed with its peak memory growth (RSS). PostgreSQL runs when TEST_POSTGRES_URL (or a
postgresql:// DATABASE_URL) reaches a server where a scratch database can be created.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from db.models import (
    Call,
    CallFilters,
    CallMetrics,
    CallStatus,
    DayCount,
    Provider,
)
from db.seed import seed_demo_data
from db.store import Store
from settings import load_settings

T = TypeVar("T")
SEARCH_WORD = "snow"
PAGE, PAGE_SIZE = 3, 50
METRICS_AND_SEARCH_TARGET = 20.0  # at least this many times faster than naive
EXPORT_MEMORY_TARGET_MB = 100.0


# -- measuring -------------------------------------------------------------------------------


def timed(operation: Callable[[], T], repeat: int = 1) -> tuple[T, float]:
    """The result and the best wall time of `repeat` runs."""
    best = math.inf
    result: Any = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = operation()
        best = min(best, time.perf_counter() - start)
    return result, best


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_rss_growth() -> Iterator[dict[str, float]]:
    """Samples the process's resident memory; yields a dict that gets `growth_mb` at exit."""
    baseline = _rss_bytes()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_bytes())
            done.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    report: dict[str, float] = {}
    try:
        yield report
    finally:
        done.set()
        sampler.join()
        peak = max(peak, _rss_bytes())
        report["growth_mb"] = (peak - baseline) / 2**20


def same(a: Any, b: Any) -> bool:
    """Equal, with floats compared to 1e-9 relative precision."""
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# -- the naive way: every row in pandas ------------------------------------------------------

JSON_PARSED = ("keyword_hits", "latency")
JSON_AS_TEXT = ("keyword_hits", "latency", "transcript", "structured", "metadata", "call_analysis")


def naive_load(backend: str, location: str) -> pd.DataFrame:
    """Every call, every column, as a dashboard that skips the database's engine would."""
    sql = (
        "SELECT c.*, d.name AS driver_name FROM calllog c LEFT JOIN drivers d ON d.id = c.driver_id"
    )
    if backend == "sqlite":
        with sqlite3.connect(location) as conn:
            frame = pd.read_sql_query(sql, conn)
    else:
        import psycopg

        with psycopg.connect(location) as conn, conn.cursor() as cursor:
            names = [
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = "
                    "'calllog' AND column_name <> 'search_tsv' ORDER BY ordinal_position"
                )
            ]
            # JSON as text, as SQLite hands it over, so both baselines parse the same way.
            columns = ", ".join(
                f"c.{n}::text AS {n}" if n in JSON_AS_TEXT else f"c.{n}" for n in names
            )
            cursor.execute(sql.replace("c.*", columns))
            frame = pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
    for name in JSON_PARSED:
        frame[name] = frame[name].map(lambda v: json.loads(v) if isinstance(v, str) else None)
    return frame


def _mean(series: pd.Series) -> float | None:
    values = series.dropna()
    return float(values.astype(float).mean()) if len(values) else None


def naive_metrics(frame: pd.DataFrame, provider: Provider, zone: str) -> CallMetrics:
    calls = frame[frame["provider"] == provider.value]

    def counts(column: str) -> dict[str, int]:
        return {k: int(v) for k, v in calls[column].dropna().value_counts().items()}

    days = calls["created_at"].dt.tz_convert(zone).dt.strftime("%Y-%m-%d").tolist()
    outcomes = [v if isinstance(v, str) else None for v in calls["call_outcome"].tolist()]  # NaN
    per_day = Counter(zip(days, outcomes, strict=True))
    keywords: Counter[str] = Counter()
    for hits in calls["keyword_hits"].dropna():
        keywords.update(hits)
    buckets = Counter((calls["duration_secs"].dropna() // 60).astype(int))
    latency = calls["latency"].map(lambda v: v.get("e2e_p50_ms") if v else None)
    return CallMetrics(
        total_calls=len(calls),
        ended_calls=int((calls["status"] == CallStatus.ENDED.value).sum()),
        avg_duration_secs=_mean(calls["duration_secs"]),
        avg_sentiment=_mean(calls["sentiment"]),
        avg_interruptions=_mean(calls["interruptions_est"]),
        total_tokens=int(calls["tokens_estimated"].fillna(0).sum()),
        by_outcome=counts("call_outcome"),
        by_status=counts("status"),
        by_driver_status=counts("driver_status"),
        by_emergency_type=counts("emergency_type"),
        per_day=[
            DayCount(day=day, call_outcome=outcome, calls=n)
            for (day, outcome), n in sorted(
                per_day.items(), key=lambda kv: (kv[0][0], kv[0][1] is not None, kv[0][1] or "")
            )
        ],
        keyword_totals={k: keywords[k] for k in sorted(keywords)},
        duration_histogram=[
            {"bucket_start_secs": b * 60, "bucket_end_secs": (b + 1) * 60, "calls": n}
            for b, n in sorted(buckets.items())
        ],
        avg_latency_ms=_mean(latency),
    )


def _newest_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["created_at", "id"], ascending=False)


def naive_pipecat(frame: pd.DataFrame, zone: str) -> tuple[list[int], int, CallMetrics]:
    calls = frame[frame["provider"] == Provider.PIPECAT.value]
    first_page = _newest_first(calls).head(50)
    return list(first_page["id"]), len(calls), naive_metrics(frame, Provider.PIPECAT, zone)


def naive_search(frame: pd.DataFrame, word: str) -> tuple[list[int], int]:
    matches = frame[frame["transcript"].str.contains(rf"\b{re.escape(word)}\b", case=False)]
    return list(_newest_first(matches).head(50)["id"]), len(matches)


def naive_filtered_page(frame: pd.DataFrame, since: datetime) -> tuple[list[int], int]:
    matches = frame[
        (frame["provider"] == Provider.RETELL.value)
        & (frame["driver_status"] == "Delayed")
        & (frame["created_at"] >= pd.Timestamp(since))
    ]
    page = _newest_first(matches).iloc[(PAGE - 1) * PAGE_SIZE : PAGE * PAGE_SIZE]
    return list(page["id"]), len(matches)


# -- the Store's way -------------------------------------------------------------------------


def export_csv(calls: Iterator[Call], path: Path) -> int:
    """What the app's CSV export does: one row per call, JSON for nested fields."""
    columns = list(Call.model_fields)
    rows = 0
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for call in calls:
            writer.writerow(
                json.dumps(value) if isinstance(value, dict | list) else value
                for value in (getattr(call, column) for column in columns)
            )
            rows += 1
    return rows


@dataclass
class NaiveResults:
    rows: int
    load_secs: float
    memory_growth_mb: float
    to_csv_secs: float
    retell: CallMetrics
    retell_secs: float
    pipecat_ids: list[int]
    pipecat_total: int
    pipecat: CallMetrics
    pipecat_secs: float
    search_ids: list[int]
    search_total: int
    search_secs: float
    page_ids: list[int]
    page_total: int
    page_secs: float


def run_naive(
    backend: str, location: str, since: datetime, scratch: Path, zone: str
) -> NaiveResults:
    """The five operations done the naive way; the frame is freed when this returns."""
    with peak_rss_growth() as memory:
        frame, load_secs = timed(lambda: naive_load(backend, location))
        _, to_csv_secs = timed(lambda: frame.to_csv(scratch / "naive.csv", index=False))
    retell, retell_secs = timed(lambda: naive_metrics(frame, Provider.RETELL, zone))
    (pipecat_ids, pipecat_total, pipecat), pipecat_secs = timed(lambda: naive_pipecat(frame, zone))
    (search_ids, search_total), search_secs = timed(lambda: naive_search(frame, SEARCH_WORD))
    (page_ids, page_total), page_secs = timed(lambda: naive_filtered_page(frame, since))
    return NaiveResults(
        rows=len(frame),
        load_secs=load_secs,
        memory_growth_mb=memory["growth_mb"],
        to_csv_secs=to_csv_secs,
        retell=retell,
        retell_secs=retell_secs,
        pipecat_ids=pipecat_ids,
        pipecat_total=pipecat_total,
        pipecat=pipecat,
        pipecat_secs=pipecat_secs,
        search_ids=search_ids,
        search_total=search_total,
        search_secs=search_secs,
        page_ids=page_ids,
        page_total=page_total,
        page_secs=page_secs,
    )


@dataclass
class Row:
    name: str
    store_secs: float
    naive_secs: float
    identical: bool
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.naive_secs / self.store_secs if self.store_secs else math.inf


def settle(backend: str, location: str) -> None:
    """Statistics and visibility as a database has them once autovacuum has seen a bulk load."""
    if backend == "sqlite":
        with sqlite3.connect(location) as conn:
            conn.execute("PRAGMA optimize")
        print("ran PRAGMA optimize")
    else:
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) calllog")
            conn.execute("VACUUM (ANALYZE) drivers")
        print("ran VACUUM (ANALYZE), as autovacuum does after a bulk load")


def bench_backend(
    backend: str,
    open_store: Callable[[str], Store],
    location: str,
    calls: int,
    scratch: Path,
    zone: str,
) -> bool:
    store = open_store(zone)
    now = datetime.now(UTC)
    print(f"\n== {backend}: seeding {calls:,} calls", flush=True)
    store.migrate()
    existing = store.search_calls(CallFilters(), page_size=1)
    if existing.total == calls:
        now = existing.items[0].created_at + timedelta(minutes=1)
        print(f"reusing the {calls:,} calls already in {location}")
    else:
        keywords = load_settings().keywords
        written, seed_secs = timed(
            lambda: seed_demo_data(store, calls=calls, seed=42, now=now, keywords=keywords)
        )
        print(f"seeded {written:,} calls in {seed_secs:.1f} s ({written / seed_secs:,.0f} calls/s)")
    settle(backend, location)
    since = now - timedelta(days=7)
    other_zone = "UTC" if zone != "UTC" else "America/Chicago"
    elsewhere = open_store(other_zone)
    _, rekey_away_secs = timed(elsewhere.migrate)
    elsewhere.close()
    _, rekey_back_secs = timed(store.migrate)
    print(
        f"re-keyed the daily rollups of {calls:,} calls to {other_zone} days in "
        f"{rekey_away_secs:.1f} s and back to {zone} days in {rekey_back_secs:.1f} s"
    )

    retell, retell_secs = timed(lambda: store.retell_metrics(CallFilters()), repeat=3)
    pipecat, pipecat_secs = timed(lambda: store.pipecat_metrics(CallFilters()), repeat=3)
    found, search_secs = timed(
        lambda: store.search_calls(CallFilters(query=SEARCH_WORD), page_size=50), repeat=3
    )
    page_filters = CallFilters(
        provider=Provider.RETELL, driver_status="Delayed", created_from=since
    )
    page, page_secs = timed(
        lambda: store.search_calls(page_filters, page=PAGE, page_size=PAGE_SIZE), repeat=3
    )
    print(
        f"store: Retell metrics {retell_secs:.3f}s, Pipecat metrics {pipecat_secs:.3f}s, "
        f"search {search_secs:.3f}s, filtered page {page_secs:.3f}s; exporting...",
        flush=True,
    )
    with peak_rss_growth() as store_memory:
        exported, export_secs = timed(
            lambda: export_csv(store.iter_calls(CallFilters()), scratch / "store.csv")
        )

    print("loading every row into pandas for the naive baseline...", flush=True)
    naive = run_naive(backend, location, since, scratch, zone)
    load_secs = naive.load_secs

    results = [
        Row(
            "Retell metrics",
            retell_secs,
            load_secs + naive.retell_secs,
            same(retell.model_dump(), naive.retell.model_dump()),
        ),
        Row(
            "Pipecat metrics",
            pipecat_secs,
            load_secs + naive.pipecat_secs,
            [i.id for i in pipecat.items] == naive.pipecat_ids
            and pipecat.total == naive.pipecat_total
            and same(pipecat.aggregates.model_dump(), naive.pipecat.model_dump()),
        ),
        Row(
            f"full-text search '{SEARCH_WORD}'",
            search_secs,
            load_secs + naive.search_secs,
            [c.id for c in found.items] == naive.search_ids and found.total == naive.search_total,
            f"{found.total:,} matches",
        ),
        Row(
            "filtered page",
            page_secs,
            load_secs + naive.page_secs,
            [c.id for c in page.items] == naive.page_ids and page.total == naive.page_total,
            f"page {PAGE} of {page.total:,} delayed Retell calls, last 7 days",
        ),
        Row(
            "full export (CSV)",
            export_secs,
            load_secs + naive.to_csv_secs,
            exported == naive.rows,
            f"{exported:,} rows; RSS growth {store_memory['growth_mb']:,.0f} MB "
            f"(naive {naive.memory_growth_mb:,.0f} MB)",
        ),
    ]
    print(f"naive baseline loads every row first: {load_secs:.1f} s for {naive.rows:,} rows")
    print(f"{'operation':34} {'store':>10} {'naive':>10} {'ratio':>8}  same  notes")
    for row in results:
        print(
            f"{row.name:34} {row.store_secs:>9.3f}s {row.naive_secs:>9.1f}s "
            f"{row.ratio:>7.0f}x  {'yes' if row.identical else 'NO':4}  {row.note}"
        )
    fast_enough = all(r.ratio >= METRICS_AND_SEARCH_TARGET for r in results[:3])
    small_export = store_memory["growth_mb"] < EXPORT_MEMORY_TARGET_MB
    all_same = all(r.identical for r in results)
    print(
        f"targets: metrics and search >= {METRICS_AND_SEARCH_TARGET:.0f}x: "
        f"{'met' if fast_enough else 'MISSED'}; export growth < {EXPORT_MEMORY_TARGET_MB:.0f} MB: "
        f"{'met' if small_export else 'MISSED'}; identical results: {'yes' if all_same else 'NO'}"
    )
    return fast_enough and small_export and all_same


# -- backends --------------------------------------------------------------------------------


def run_sqlite(calls: int, scratch: Path, zone: str) -> bool:
    from db.sqlite_store import SqliteStore

    path = scratch / "bench.db"
    opened: list[Store] = []

    def open_store(office_timezone: str) -> Store:
        opened.append(SqliteStore(path, office_timezone=office_timezone))
        return opened[-1]

    try:
        return bench_backend("sqlite", open_store, str(path), calls, scratch, zone)
    finally:
        for store in opened:
            store.close()


def postgres_admin_url() -> str | None:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        configured = load_settings().database_url
        url = configured if configured.startswith(("postgresql://", "postgres://")) else None
    return url or "postgresql://dispatch:dispatch@127.0.0.1:5432/postgres"


def run_postgres(calls: int, scratch: Path, zone: str, *, keep: bool) -> bool | None:
    """On a scratch database, dropped afterwards unless `keep` (then reused by the next run)."""
    import psycopg

    admin_url = postgres_admin_url()
    name = f"dispatch_bench_keep_{calls}" if keep else f"dispatch_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if not exists.fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"\n== postgres: skipped, no server to create a scratch database on ({exc})")
        return None
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    from db.postgres_store import PostgresStore

    opened: list[Store] = []

    def open_store(office_timezone: str) -> Store:
        # A long statement timeout: seeding a million calls on a loaded machine outlasts 5 s.
        store = PostgresStore(url, statement_timeout_secs=120.0, office_timezone=office_timezone)
        opened.append(store)
        return opened[-1]

    try:
        return bench_backend("postgres", open_store, url, calls, scratch, zone)
    finally:
        for store in opened:
            store.close()
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.db_bench", description=__doc__)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument(
        "--timezone",
        default="America/Chicago",
        help="the office's zone (DISPATCH_TIMEZONE): per-day figures are its days",
    )
    parser.add_argument(
        "--workdir",
        help="keep the seeded databases (SQLite file here, PostgreSQL dispatch_bench_keep_N) "
        "and reuse them when they already hold --calls calls",
    )
    args = parser.parse_args(argv)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="db_bench_") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.backend in ("sqlite", "all"):
            outcomes.append(run_sqlite(args.calls, workdir, args.timezone))
        if args.backend in ("postgres", "all"):
            outcomes.append(
                run_postgres(args.calls, workdir, args.timezone, keep=bool(args.workdir))
            )
    return 0 if all(o is not False for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
