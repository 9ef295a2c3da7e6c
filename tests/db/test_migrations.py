"""PostgreSQL migrations: applied in order, once, safely from two processes at once; the
definitions applied again when they change; every earlier schema upgraded to the current one;
and row-level security that leaves Supabase's public roles with nothing."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from db.migration_runner import (
    DEFINITIONS_PREFIX,
    MigrationFailed,
    applied_migrations,
    apply_migrations,
    definitions_name,
    migration_files,
    migration_names,
    pending_migrations,
)
from db.models import CallFilters, CallUpdate, Provider
from db.postgres_store import PostgresStore
from db.store import NotMigrated
from tests.db.conftest import assert_refused_as
from tests.db.older_schema import apply_numbered_files

pytestmark = pytest.mark.postgres

ALL_MIGRATIONS = migration_names()
NUMBERED = [path.name for path in migration_files()]
TABLES = ["drivers", "agents", "calllog", "call_events", "schema_migrations"]


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def test_migration_files_are_numbered_and_start_with_the_schema() -> None:
    assert NUMBERED[0] == "0001_schema.sql"
    assert sorted(NUMBERED) == NUMBERED
    assert len({name[:4] for name in NUMBERED}) == len(NUMBERED)
    assert [*NUMBERED, definitions_name()] == ALL_MIGRATIONS


def test_migrate_applies_every_file_in_order_and_records_it(
    postgres_database: Callable[[], str],
) -> None:
    url = postgres_database()
    store = PostgresStore(url)
    try:
        assert store.migrate() == ALL_MIGRATIONS
    finally:
        store.close()
    with connect(url) as conn:
        assert applied_migrations(conn) == ALL_MIGRATIONS
        tables = {
            row[0]
            for row in conn.execute(
                "select tablename from pg_tables where schemaname = current_schema()"
            )
        }
    assert set(TABLES) <= tables


def test_migrating_again_applies_nothing_and_keeps_the_data(
    postgres_database: Callable[[], str],
) -> None:
    store = PostgresStore(postgres_database())
    try:
        store.migrate()
        store.upsert_call(Provider.RETELL, "call-1", CallUpdate(load_number="L-1"))
        assert store.migrate() == []
        call = store.get_call("call-1")
        assert call is not None and call.load_number == "L-1"
    finally:
        store.close()


def test_two_processes_migrating_at_once_apply_each_file_exactly_once(
    postgres_database: Callable[[], str],
) -> None:
    url = postgres_database()
    start = threading.Barrier(3)
    results: list[list[str]] = []
    failures: list[BaseException] = []

    def migrate() -> None:
        store = PostgresStore(url)
        try:
            start.wait()
            results.append(store.migrate())
        except BaseException as exc:  # reported below, a thread cannot raise into the test
            failures.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sorted(name for applied in results for name in applied) == ALL_MIGRATIONS
    with connect(url) as conn:
        assert applied_migrations(conn) == ALL_MIGRATIONS


def test_a_failing_migration_rolls_back_the_whole_run(
    postgres_database: Callable[[], str], tmp_path: Path
) -> None:
    for path in migration_files():
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "9999_broken.sql").write_text(
        "create table half_done (id integer);\nselect 1 / 0;\n"
    )
    url = postgres_database()
    with connect(url) as conn:
        with pytest.raises(MigrationFailed, match="9999_broken.sql .*division by zero"):
            apply_migrations(conn, tmp_path)
        assert applied_migrations(conn) == []
        assert conn.execute("select to_regclass('half_done')").fetchone() == (None,)
        assert conn.execute("select to_regclass('calllog')").fetchone() == (None,)
        assert apply_migrations(conn) == ALL_MIGRATIONS


def test_changed_definitions_are_applied_again_and_flagged_until_then(
    postgres_database: Callable[[], str],
) -> None:
    url = postgres_database()
    store = PostgresStore(url)
    try:
        store.migrate()
        with connect(url) as conn:
            # What a schema migrated by an older release looks like: other definitions.
            conn.execute(
                "update schema_migrations set name = %s where name = %s",
                (DEFINITIONS_PREFIX + "0" * 16, definitions_name()),
            )
            conn.execute(
                "create or replace function on_time_counts(p_filters jsonb default '{}') "
                "returns jsonb language sql as $$ select '{}'::jsonb $$"
            )
            assert pending_migrations(conn) == [definitions_name()]
        with pytest.raises(NotMigrated, match="definitions@"):
            store.check()
        assert store.migrate() == [definitions_name()]
        store.check()
        store.upsert_call(
            Provider.RETELL, "call-1", CallUpdate(structured={"on_time_status": "Late"})
        )
        assert store.on_time_counts(CallFilters()) == {"Late": 1}
        with connect(url) as conn:
            assert applied_migrations(conn) == ALL_MIGRATIONS  # the old record is gone
    finally:
        store.close()


def schema_objects(conn: psycopg.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Functions (with their bodies), triggers, columns and rights: what migrations make."""
    queries = {
        "functions": "select p.oid::regprocedure::text, pg_get_functiondef(p.oid), p.proacl::text"
        " from pg_proc p where p.pronamespace = current_schema()::regnamespace",
        "triggers": "select tgname, pg_get_triggerdef(oid) from pg_trigger where not tgisinternal",
        "columns": "select table_name, column_name, data_type, is_nullable, column_default"
        " from information_schema.columns where table_schema = current_schema()",
        "indexes": "select indexname, indexdef from pg_indexes where schemaname = current_schema()",
        "rights": "select grantee, table_name, privilege_type from"
        " information_schema.role_table_grants where table_schema = current_schema()",
    }
    return {name: sorted(conn.execute(query).fetchall()) for name, query in queries.items()}


@pytest.mark.parametrize("last", NUMBERED[:-1])
def test_a_schema_at_any_earlier_migration_with_calls_upgrades_to_the_current_one(
    postgres_database: Callable[[], str], last: str
) -> None:
    fresh = postgres_database()
    with connect(fresh) as conn:
        apply_migrations(conn)
        current = schema_objects(conn)
    url = postgres_database()
    with connect(url) as conn:
        apply_numbered_files(conn, [name for name in NUMBERED if name <= last])
        conn.execute(
            "insert into calllog (provider, provider_call_id, status, duration_secs,"
            " keyword_hits) values ('retell', 'old-1', 'ended', 65, '{\"late\": 2}'),"
            " ('pipecat', 'old-2', 'ongoing', null, '{}')"
        )
        apply_migrations(conn)
        assert schema_objects(conn) == current
        rollups = "select to_jsonb(d) from calllog_daily d order by 1"
        upgraded = conn.execute(rollups).fetchall()
        conn.execute("select dispatch_rebuild_rollups()")
        assert upgraded == conn.execute(rollups).fetchall() != []
        metrics = conn.execute("select retell_metrics('{}')").fetchone()
    assert metrics is not None
    assert metrics[0]["total_calls"] == 1 and metrics[0]["keyword_totals"] == {"late": 2}


def test_every_table_has_row_level_security(postgres_database: Callable[[], str]) -> None:
    url = postgres_database()
    with connect(url) as conn:
        apply_migrations(conn)
        flags = dict(
            conn.execute(
                "select relname, relrowsecurity from pg_class where relname = any(%s)", (TABLES,)
            ).fetchall()
        )
    assert flags == {table: True for table in TABLES}


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_public_roles_can_neither_read_write_nor_call_functions(
    postgres: PostgresStore, database_url: str, role: str
) -> None:
    postgres.upsert_call(Provider.RETELL, "call-1", CallUpdate(load_number="L-1"))
    attempts = [
        "select count(*) from calllog",
        "insert into drivers (name) values ('Mallory')",
        "select search_calls('{}')",
        "select upsert_call('retell', 'call-2', '{}')",
    ]
    with connect(database_url) as conn:
        assert_refused_as(role, conn, attempts)
        assert conn.execute("select count(*) from drivers").fetchone() == (0,)
        assert conn.execute("select count(*) from calllog").fetchone() == (1,)


def test_service_role_reads_and_writes_through_the_functions(
    postgres_database: Callable[[], str],
) -> None:
    url = postgres_database()
    with connect(url) as conn:
        apply_migrations(conn)
        conn.execute("set role service_role")
        conn.execute("select upsert_call('retell', 'call-1', '{\"load_number\": \"L-9\"}')")
        page = conn.execute("select search_calls('{}')").fetchone()
        rows = conn.execute("select count(*) from calllog").fetchone()
    assert page is not None and page[0]["total"] == 1
    assert rows == (1,)
