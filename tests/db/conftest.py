"""The `store` fixture: every contract test runs once per backend, on a fresh migrated database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
        from db.postgres_store import PostgresStore

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
