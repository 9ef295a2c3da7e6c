"""The `store` fixture: every contract test runs once per backend, on a fresh migrated database;
`database_url` and `postgres` for the tests of one PostgreSQL-based backend."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors as pg_errors

from db.postgres_store import PostgresStore
from db.store import Store

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """A factory of stores on one fresh, empty (not migrated) database of the backend."""
    opened: list[Store] = []
    if request.param == "sqlite":
        from db.sqlite_store import SqliteStore

        path = tmp_path / "contract.db"

        def make() -> Store:
            opened.append(SqliteStore(path))
            return opened[-1]
    else:
        url = request.getfixturevalue("postgres_database")()

        def make() -> Store:
            opened.append(PostgresStore(url))
            return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    store = make_store()
    store.migrate()
    return store


@pytest.fixture
def database_url(postgres_database: Callable[[], str]) -> str:
    """A fresh, empty PostgreSQL database."""
    return postgres_database()


@pytest.fixture
def postgres(database_url: str) -> Iterator[PostgresStore]:
    """A PostgresStore on `database_url`, migrated."""
    store = PostgresStore(database_url)
    store.migrate()
    yield store
    store.close()


def assert_refused_as(role: str, conn: psycopg.Connection, statements: Iterable[str]) -> None:
    """Each statement, run as `role`, fails for want of a privilege."""
    for statement in statements:
        conn.execute(f"set role {role}")  # type: ignore[arg-type]
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("reset role")
