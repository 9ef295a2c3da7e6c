"""SQLite schema upgrades keep existing calls and their metrics."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from db.models import CallFilters, CallUpdate, Provider
from db.sqlite_queries import ROLLUP_ADD_NEW_CALLS
from db.sqlite_store import MIGRATIONS, SqliteStore, _split_statements, definitions_name
from db.store import NotMigrated


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
        conn.execute(
            "CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
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
        # The rollups as 0013's triggers kept them: no duration in bucket -2^63.
        conn.execute(
            "INSERT INTO calllog_daily SELECT provider, substr(created_at, 1, 10), status, '', '', "
            "'', coalesce(CAST(duration_secs / 60 AS INTEGER), -9223372036854775808), count(*), "
            "count(duration_secs), coalesce(sum(duration_secs), 0), 0, 0, 0, 0, 0, 0, 0, 0 "
            "FROM calllog GROUP BY 1, 2, 3, 7"
        )
        conn.execute(
            "INSERT INTO calllog_daily_keywords SELECT provider, substr(created_at, 1, 10), "
            "status, '', '', '', 'traffic', count(*), count(*), 0 FROM calllog GROUP BY 1, 2, 3"
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


def schema_of(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return sorted(
        (kind, name, table, " ".join((sql or "").split())) for kind, name, table, sql in rows
    )


@pytest.mark.parametrize("last", [name for name, _ in MIGRATIONS])
def test_a_database_migrated_up_to_any_migration_upgrades_to_the_fresh_schema_and_rollups(
    tmp_path: Path, last: str
) -> None:
    """From each recorded prefix (the triggers of the time not reproduced): the schema of a fresh
    database, and rollups built from the calls stored before them, kept exact afterwards."""
    fresh = SqliteStore(tmp_path / "fresh.db")
    fresh.migrate()
    fresh.close()
    path = tmp_path / "old.db"
    migrated_up_to(path, last)
    with sqlite3.connect(path) as conn:
        for n, duration in enumerate([None, 45.0, 130.0]):
            conn.execute(
                "INSERT INTO calllog (provider, provider_call_id, status, created_at, updated_at, "
                "duration_secs, keyword_hits) VALUES ('retell', ?, 'ended', ?, '2026-01-02', ?, "
                "'{\"traffic\": 2}')",
                (f"c{n}", f"2026-01-0{n + 1}T12:00:00.000000Z", duration),
            )

    store = SqliteStore(path)
    names = [name for name, _ in MIGRATIONS]
    assert store.migrate() == names[names.index(last) + 1 :]
    store.check()
    assert schema_of(path) == schema_of(tmp_path / "fresh.db")
    store.upsert_call(Provider.RETELL, "c0", CallUpdate(duration_secs=61.0))
    with sqlite3.connect(path) as conn:
        assert rollup_rows(conn) == rebuilt_rollup_rows(conn)
        assert sum(row[7] for row in rollup_rows(conn)) == 3
    metrics = store.retell_metrics(CallFilters())
    assert (metrics.total_calls, metrics.keyword_totals) == (3, {"traffic": 6})
    store.close()


def test_triggers_older_than_the_definitions_file_fail_check_and_are_replaced_by_migrate(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "dispatch.db")
    store.migrate()
    store.check()
    with sqlite3.connect(store.path) as conn:  # as an older version of the file left it
        conn.execute("DROP TRIGGER calllog_daily_after_insert")
        conn.execute(
            "UPDATE schema_migrations SET name = 'definitions@0000000000000000' WHERE name = ?",
            (definitions_name(),),
        )
    with pytest.raises(NotMigrated, match=definitions_name()):
        store.check()

    assert store.migrate() == []
    store.check()
    store.upsert_call(Provider.RETELL, "c0", CallUpdate(duration_secs=61.0))
    with sqlite3.connect(store.path) as conn:
        assert rollup_rows(conn) == rebuilt_rollup_rows(conn) != []
    assert store.retell_metrics(CallFilters()).total_calls == 1
    store.close()
