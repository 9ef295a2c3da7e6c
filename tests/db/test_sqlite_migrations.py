"""SQLite schema upgrades keep existing calls and their metrics."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from db.models import CallFilters, CallUpdate, Provider
from db.sqlite_queries import ROLLUP_ADD_NEW_CALLS
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


def migrated_up_to(path: Path, last: str) -> None:
    """A database as the SQLite migrations up to and including `last` left it."""
    names = [name for name, _ in MIGRATIONS]
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        for name, file in MIGRATIONS[: names.index(last) + 1]:
            for statement in _split_statements(file.read_text()):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, '2026-01-01')", (name,))


def rollup_rows(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("SELECT * FROM calllog_daily ORDER BY 1, 2, 3, 4, 5, 6, 7, 18").fetchall()


def rebuilt_rollup_rows(conn: sqlite3.Connection) -> list[tuple]:
    """The rollup as a bulk insert of every stored call builds it (nothing kept by triggers)."""
    conn.execute("SAVEPOINT rebuild")
    conn.execute("DELETE FROM calllog_daily")
    conn.execute(ROLLUP_ADD_NEW_CALLS[0], (0,))
    rows = rollup_rows(conn)
    conn.execute("ROLLBACK TO rebuild")
    return rows


def test_calls_without_a_duration_move_to_bucket_minus_one_as_on_postgresql(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    migrated_up_to(path, "0013_simulated_calls")
    with sqlite3.connect(path) as conn:
        for n, duration in enumerate([None, None, 45.0, 130.0]):
            conn.execute(
                "INSERT INTO calllog (provider, provider_call_id, status, created_at, updated_at, "
                "duration_secs, keyword_hits) VALUES ('retell', ?, 'ended', "
                "'2026-01-01T00:00:00.000000Z', '2026-01-01', ?, '{\"traffic\": 1}')",
                (f"c{n}", duration),
            )
        before = rollup_rows(conn)
    assert [row[6] for row in before] == [-(2**63), 0, 2]

    store = SqliteStore(path)
    names = [name for name, _ in MIGRATIONS]
    assert store.migrate() == names[names.index("0013_simulated_calls") + 1 :]
    assert "0016_no_duration_bucket" in names
    with sqlite3.connect(path) as conn:
        after = rollup_rows(conn)
        assert after == [
            (*row[:6], -1 if row[6] == -(2**63) else row[6], *row[7:]) for row in before
        ]
        assert after == rebuilt_rollup_rows(conn)
    metrics = store.retell_metrics(CallFilters())
    assert (metrics.total_calls, metrics.avg_duration_secs) == (4, 87.5)
    assert metrics.keyword_totals == {"traffic": 4}
    assert [b["calls"] for b in metrics.duration_histogram] == [1, 1]

    # The new triggers keep the rollups exact: a duration learned, a call gone, a new call.
    store.upsert_call(Provider.RETELL, "c0", CallUpdate(duration_secs=61.0, sentiment=0.5))
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM calllog WHERE provider_call_id = 'c2'")
        conn.execute(
            "INSERT INTO calllog (provider, provider_call_id, status, created_at, updated_at) "
            "VALUES ('retell', 'c4', 'ended', '2026-01-02T00:00:00.000000Z', '2026-01-02')"
        )
        assert rollup_rows(conn) == rebuilt_rollup_rows(conn)
        assert {row[6] for row in rollup_rows(conn)} == {-1, 1, 2}
    metrics = store.retell_metrics(CallFilters())
    assert (metrics.total_calls, metrics.avg_sentiment) == (4, 0.5)
    assert metrics.keyword_totals == {"traffic": 3}
    store.close()
