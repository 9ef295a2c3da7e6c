"""SQLite schema upgrades keep existing calls and their metrics."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from db.models import CallFilters
from db.sqlite_store import MIGRATIONS, SqliteStore, _split_statements


def test_upgrading_a_first_version_database_backfills_the_metric_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    first_name, first_file = MIGRATIONS[0]
    with sqlite3.connect(path) as conn:  # a database made before 0002 existed
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        for statement in _split_statements(first_file.read_text()):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, '2026-01-01')", (first_name,))
        for n, (hits, latency) in enumerate(
            [
                ('{"traffic": 2, "tire": 0}', '{"e2e_p50_ms": 800}'),
                ('{"traffic": 1, "fuel": 0}', '{"e2e_p50_ms": "n/a"}'),
                (None, None),
            ]
        ):
            conn.execute(
                "INSERT INTO calllog (provider, provider_call_id, status, created_at, updated_at, "
                "keyword_hits, latency) VALUES ('retell', ?, 'ended', ?, ?, ?, ?)",
                (f"c{n}", f"2026-01-0{n + 1}T00:00:00.000000Z", "2026-01-05", hits, latency),
            )

    store = SqliteStore(path)
    assert store.migrate() == [name for name, _ in MIGRATIONS[1:]]
    store.check()
    metrics = store.retell_metrics(CallFilters())
    assert metrics.total_calls == 3
    assert metrics.keyword_totals == {"fuel": 0, "tire": 0, "traffic": 3}
    assert metrics.avg_latency_ms == 800
    store.close()


def test_a_negative_duration_kept_before_0004_becomes_unknown_as_postgresql_would_have_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    first_name, first_file = MIGRATIONS[0]
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        for statement in _split_statements(first_file.read_text()):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, '2026-01-01')", (first_name,))
        for n, duration in enumerate([-30.0, 90.0]):
            conn.execute(
                "INSERT INTO calllog (provider, provider_call_id, status, created_at, updated_at, "
                "duration_secs) VALUES ('retell', ?, 'ended', '2026-01-01T00:00:00.000000Z', "
                "'2026-01-01', ?)",
                (f"c{n}", duration),
            )

    store = SqliteStore(path)
    store.migrate()
    assert store.get_call("c0").duration_secs is None
    metrics = store.retell_metrics(CallFilters())
    assert metrics.avg_duration_secs == 90
    assert metrics.duration_histogram == [
        {"bucket_start_secs": 60, "bucket_end_secs": 120, "calls": 1}
    ]
    store.close()
