"""Bot sessions in the database: any bot process resolves any token, and a token is spent once,
also when several processes race for it; on SQLite, PostgreSQL and Supabase (through the real
supabase-py client against the PostgREST double on a real PostgreSQL database)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from db.models import BotSession
from db.store import Store
from tests.db.conftest import assert_refused_as
from tests.db.postgrest_double import PostgrestDouble

NOW = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
RACERS = 8


@pytest.fixture(params=["sqlite", "postgres", "supabase"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """A factory of stores on one fresh, migrated database: each store is one bot process."""
    opened: list[Store] = []
    if request.param == "sqlite":
        from db.sqlite_store import SqliteStore

        path = tmp_path / "sessions.db"
        SqliteStore(path).migrate()

        def make() -> Store:
            opened.append(SqliteStore(path))
            return opened[-1]

        yield make
    else:
        from db.postgres_store import PostgresStore

        url = request.getfixturevalue("postgres_database")()
        migrator = PostgresStore(url)
        migrator.migrate()
        migrator.close()
        if request.param == "postgres":

            def make() -> Store:
                opened.append(PostgresStore(url))
                return opened[-1]

            yield make
        else:
            from db.supabase_store import SupabaseStore

            double = PostgrestDouble(url).start()

            def make() -> Store:
                opened.append(SupabaseStore(double.url, double.service_role_key))
                return opened[-1]

            try:
                yield make
            finally:
                for store in opened:
                    store.close()
                opened.clear()
                double.stop()
    for store in opened:
        store.close()


def session(provider_call_id: str = "pc_1", *, expires_in: timedelta = timedelta(minutes=30)):
    return BotSession(
        token=secrets.token_urlsafe(18),
        provider_call_id=provider_call_id,
        transport="twilio",
        context={"driver_name": "Maria Lopez", "load_number": "LD-7", "origin": "Dallas, TX"},
        expires_at=NOW + expires_in,
    )


def test_a_session_registered_on_one_process_is_joined_on_another_once(
    make_store: Callable[[], Store],
) -> None:
    registering, joining = make_store(), make_store()
    registered = session()
    registering.register_bot_session(registered)

    assert joining.waiting_bot_session("pc_1", NOW) == registered
    assert joining.join_bot_session(registered.token, "bot-b", NOW) == registered
    assert registering.join_bot_session(registered.token, "bot-a", NOW) is None
    assert joining.join_bot_session(registered.token, "bot-b", NOW) is None
    assert registering.waiting_bot_session("pc_1", NOW) is None


def test_an_expired_or_unknown_token_is_refused(make_store: Callable[[], Store]) -> None:
    store = make_store()
    registered = session(expires_in=timedelta(minutes=5))
    store.register_bot_session(registered)

    later = NOW + timedelta(minutes=5)
    assert store.waiting_bot_session("pc_1", later) is None
    assert store.join_bot_session(registered.token, "bot-a", later) is None
    assert store.join_bot_session("no-such-token-at-all", "bot-a", NOW) is None
    # Refused at its expiry, it was never spent: a moment before, it still joins.
    assert store.join_bot_session(registered.token, "bot-a", later - timedelta(seconds=1))


def test_each_call_finds_its_own_waiting_session(make_store: Callable[[], Store]) -> None:
    store = make_store()
    first, second = session("pc_1"), session("pc_2")
    store.register_bot_session(first)
    store.register_bot_session(second)
    assert store.waiting_bot_session("pc_2", NOW) == second
    assert store.join_bot_session(first.token, "bot-a", NOW) == first
    assert store.waiting_bot_session("pc_2", NOW) == second
    assert store.waiting_bot_session("pc_3", NOW) is None


def test_processes_racing_for_one_token_get_it_once(make_store: Callable[[], Store]) -> None:
    registered = session()
    make_store().register_bot_session(registered)
    racers = [make_store() for _ in range(RACERS)]
    start = threading.Barrier(RACERS)
    won: list[str] = []

    def race(index: int) -> None:
        start.wait()
        if racers[index].join_bot_session(registered.token, f"bot-{index}", NOW) is not None:
            won.append(f"bot-{index}")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1


def test_sessions_expired_for_over_a_day_are_dropped_when_one_registers(
    tmp_path: Path,
) -> None:
    from db.sqlite_store import SqliteStore

    store = SqliteStore(tmp_path / "sessions.db")
    store.migrate()
    stale = session("pc_old").model_copy(
        update={"expires_at": datetime.now(UTC) - timedelta(days=2)}
    )
    store.register_bot_session(stale)
    store.register_bot_session(session("pc_new"))
    rows = store._read(lambda conn: conn.execute("SELECT provider_call_id FROM bot_sessions"))
    assert [row[0] for row in rows.fetchall()] == ["pc_new"]
    store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_supabase_public_roles_can_neither_read_nor_join_sessions(
    postgres: Store, database_url: str, role: str
) -> None:
    postgres.register_bot_session(session())
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert conn.execute(
            "select relrowsecurity from pg_class where relname = 'bot_sessions'"
        ).fetchone() == (True,)
        assert_refused_as(
            role,
            conn,
            ["select count(*) from bot_sessions", "select join_bot_session('x', 'y', now())"],
        )
