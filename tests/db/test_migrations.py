"""PostgreSQL migrations: applied in order, once, safely from two processes at once; and
row-level security that leaves Supabase's public roles with nothing."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from db.migration_runner import (
    MigrationFailed,
    applied_migrations,
    apply_migrations,
    migration_files,
)
from db.models import CallUpdate, Provider
from db.postgres_store import PostgresStore
from tests.db.conftest import assert_refused_as

pytestmark = pytest.mark.postgres

ALL_MIGRATIONS = [path.name for path in migration_files()]
TABLES = ["drivers", "agents", "calllog", "call_events", "schema_migrations"]


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def test_migration_files_are_numbered_and_start_with_the_schema() -> None:
    assert ALL_MIGRATIONS[0] == "0001_schema.sql"
    assert sorted(ALL_MIGRATIONS) == ALL_MIGRATIONS
    assert len({name[:4] for name in ALL_MIGRATIONS}) == len(ALL_MIGRATIONS)


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


def test_a_failing_migration_keeps_nothing_of_itself_and_is_not_recorded(
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
        assert applied_migrations(conn) == ALL_MIGRATIONS
        assert conn.execute("select to_regclass('half_done')").fetchone() == (None,)


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
