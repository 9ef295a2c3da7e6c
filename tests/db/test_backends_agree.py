"""Differential test: random sequences of Store operations applied to SQLite, PostgreSQL and
Supabase (the real supabase-py client through the PostgREST double) leave the three backends
answering get_call, search_calls, iter_calls and both metrics identically.

Each example starts from empty databases (the schemas stay migrated). Per-day figures are days
in the office's zone, America/Chicago, over its change to daylight time on 2026-03-08."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.vocabulary import CallOutcome, DriverStatus, EmergencyType
from db.models import CallFilters, CallStatus, CallUpdate, Event, Provider
from db.postgres_store import PostgresStore
from db.sqlite_store import SqliteStore
from db.store import Store
from db.supabase_store import SupabaseStore
from tests.db.postgrest_double import PostgrestDouble
from tests.db.test_supabase_store import serve

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
OFFICE = ZoneInfo("America/Chicago")
# Calls at 23:30 in the office, the evening before and of the change to daylight time: their UTC
# day is the next one, their office day is this one.
LATE_CALLS = {
    "late-cst": datetime(2026, 3, 7, 23, 30, tzinfo=OFFICE),
    "late-cdt": datetime(2026, 3, 8, 23, 30, tzinfo=OFFICE),
}
CALL_IDS = [f"call-{n}" for n in range(6)] + list(LATE_CALLS)
DRIVERS = ["Ana Ruiz", "Bob Edouard", "Zoë Ångström"]
WORDS = ["traffic", "tire", "fuel"]
# Values exact in binary floating point, so sums do not depend on the order a database adds.
DURATIONS = [0.0, 0.5, 30.0, 59.75, 60.0, 61.5, 125.25, 3600.0]
SENTIMENTS = [-1.0, -0.5, 0.0, 0.25, 1.0]
NOT_COMPARED = {"id", "driver_id", "agent_id", "updated_at"}  # each database numbers its own


def created_at(provider_call_id: str) -> datetime:
    """One creation time per call id (a later upsert's created_at is ignored anyway), spread
    over several days and hours so day rollups and their partial edges are both exercised."""
    if provider_call_id in LATE_CALLS:
        return LATE_CALLS[provider_call_id].astimezone(UTC)
    return T0 - timedelta(minutes=zlib.crc32(provider_call_id.encode()) % (5 * 24 * 60))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=OFFICE)


def day_end(day: date) -> datetime:
    return day_start(day + timedelta(days=1))


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


turns = st.lists(
    st.builds(
        lambda role, word: {"role": role, "content": f"{word} near Reno"},
        st.sampled_from(["agent", "user"]),
        st.sampled_from(WORDS + ["all good"]),
    ),
    max_size=4,
)
structured = st.builds(
    lambda outcome, status, emergency: {
        "call_outcome": outcome,
        "driver_status": status,
        "emergency_type": emergency,
        "current_location": "Reno",
    },
    st.sampled_from([o.value for o in CallOutcome]),
    maybe(st.sampled_from([s.value for s in DriverStatus])),
    maybe(st.sampled_from([e.value for e in EmergencyType])),
)
updates = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(list(CallStatus)),
        "load_number": st.sampled_from(["L-1", "L-2"]),
        "call_type": st.sampled_from(["web_call", "phone_call", "simulated"]),
        "duration_secs": st.sampled_from(DURATIONS),
        "interruptions_est": st.integers(0, 3),
        "tokens_estimated": st.integers(0, 500),
        "sentiment": st.sampled_from(SENTIMENTS),
        "keyword_hits": st.dictionaries(st.sampled_from(WORDS), st.integers(0, 3)),
        "latency": st.sampled_from([{"e2e_p50_ms": 400}, {"e2e_p50_ms": 812.5}, {"x": 1}]),
        "structured": structured,
        "transcript": turns,
        "cost": st.sampled_from([0.0, 12.5]),
        "disconnection_reason": st.sampled_from(["user_hangup", "agent_hangup"]),
        "metadata": st.sampled_from([{"source": "test"}, {"n": 2}]),
    },
)
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("upsert"),
            st.sampled_from(list(Provider)),
            st.sampled_from(CALL_IDS),
            maybe(st.sampled_from(DRIVERS)),
            updates,
        ),
        st.tuples(st.just("transcript"), st.sampled_from(CALL_IDS), turns),
        st.tuples(st.just("event"), st.sampled_from(["e1", "e2", "e3"])),
        st.tuples(
            st.just("bulk"),
            st.lists(st.tuples(st.sampled_from(list(Provider)), st.integers(0, 9), updates)),
        ),
    ),
    min_size=1,
    max_size=8,
)
filters = st.builds(
    CallFilters,
    query=maybe(st.sampled_from(WORDS + ["reno", "all good"])),
    provider=maybe(st.sampled_from(list(Provider))),
    status=maybe(st.sampled_from(list(CallStatus))),
    call_outcome=maybe(st.sampled_from([CallOutcome.INCOMPLETE.value, "In-Transit Update"])),
    driver_name=maybe(st.sampled_from(["ana", "ÅNG", "o"])),
    load_number=maybe(st.just("L-1")),
    # Office midnights (the UI's date filters) and instants inside office days.
    created_from=maybe(
        st.sampled_from(
            [T0 - timedelta(days=3, hours=5), T0 - timedelta(days=1), day_start(date(2026, 3, 8))]
        )
    ),
    created_to=maybe(
        st.sampled_from(
            [T0 - timedelta(hours=30), T0 + timedelta(hours=1), day_end(date(2026, 3, 8))]
        )
    ),
    include_simulated=st.booleans(),
)


def apply(store: Store, operation: tuple[Any, ...]) -> Any:
    kind = operation[0]
    if kind == "upsert":
        _, provider, call_id, driver, fields = operation
        driver_id = store.ensure_driver(driver) if driver else None
        update = CallUpdate(driver_id=driver_id, created_at=created_at(call_id), **fields)
        return normal(store.upsert_call(provider, call_id, update))
    if kind == "transcript":
        _, call_id, transcript = operation
        if store.get_call(call_id) is not None:  # a new call would get the database's now()
            store.save_transcript(store.get_call(call_id).provider, call_id, transcript)
        return None
    if kind == "event":
        key = f"pipecat:x:{operation[1]}"
        event = Event(provider=Provider.PIPECAT, provider_call_id="x", event_type="t",
                      idempotency_key=key, payload={"k": operation[1]})  # fmt: skip
        return store.record_event(event)
    rows = [
        (provider, f"bulk-{n}", CallUpdate(created_at=created_at(f"bulk-{n}"), **fields))
        for provider, n, fields in operation[1]
    ]
    return store.bulk_insert_calls(rows)


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def normal(model: Any) -> Any:
    if model is None:
        return None
    if isinstance(model, list):
        return [normal(m) for m in model]
    return rounded(model.model_dump(mode="json", exclude=NOT_COMPARED))


def answers(store: Store, query: CallFilters) -> dict[str, Any]:
    page = store.search_calls(query, sort="-duration_secs", page=1, page_size=3)
    pipecat = store.pipecat_metrics(query, page=1, page_size=4)
    return {
        "calls": {
            call_id: normal(store.get_call(call_id)) for call_id in CALL_IDS + ["bulk-0", "bulk-9"]
        },
        "search": (page.total, normal(page.items)),
        "search_all": normal(store.search_calls(CallFilters(), page_size=100).items),
        "iter": normal(list(store.iter_calls(query, batch_size=2))),
        "metrics": normal(store.retell_metrics(query)),
        "histogram": rounded(store.duration_histogram(query)),
        "latency": normal(store.latency_trend(query)),
        "pipecat": (pipecat.total, normal(pipecat.items), normal(pipecat.aggregates)),
    }


def empty_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "select string_agg(quote_ident(tablename), ', ') from pg_tables "
            "where schemaname = current_schema() "
            "and tablename not in ('schema_migrations', 'calllog_rollup_zone')"
        ).fetchone()[0]
        conn.execute(f"truncate {tables} restart identity cascade")


def empty_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:  # foreign keys are off on a new connection
        conn.execute("DELETE FROM calllog")  # its triggers empty the full-text index too
        tables = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'calllog_fts%' "
            "AND name NOT IN ('schema_migrations', 'sqlite_sequence', 'calllog_rollup_zone', "
            "'calllog_rollup_offsets')"
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'DELETE FROM "{table}"')


@pytest.fixture
def stores(tmp_path: Path, postgres_database: Callable[[], str]) -> Iterator[Backends]:
    sqlite_path = tmp_path / "differential.db"
    postgres_url, supabase_url = postgres_database(), postgres_database()
    sqlite, postgres, migrator = (
        SqliteStore(sqlite_path, office_timezone=OFFICE.key),
        PostgresStore(postgres_url, office_timezone=OFFICE.key),
        PostgresStore(supabase_url, office_timezone=OFFICE.key),
    )
    for store in (sqlite, postgres, migrator):
        store.migrate()

    def empty() -> None:
        empty_sqlite(sqlite_path)
        empty_postgres(postgres_url)
        empty_postgres(supabase_url)

    for double in serve(PostgrestDouble(supabase_url)):
        supabase = SupabaseStore(double.url, double.service_role_key, office_timezone=OFFICE.key)
        yield Backends({"sqlite": sqlite, "postgres": postgres, "supabase": supabase}, empty)
        supabase.close()
    for store in (sqlite, postgres, migrator):
        store.close()


@dataclass
class Backends:
    stores: dict[str, Store]
    empty: Callable[[], None]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=operations, query=filters)
def test_every_backend_gives_the_same_answers_after_the_same_operations(
    stores: Backends, operations: list[tuple[Any, ...]], query: CallFilters
) -> None:
    stores.empty()
    for operation in operations:
        results = {name: apply(store, operation) for name, store in stores.stores.items()}
        assert results["postgres"] == results["sqlite"], operation
        assert results["supabase"] == results["sqlite"], operation

    expected = answers(stores.stores["sqlite"], query)
    for name in ("postgres", "supabase"):
        actual = answers(stores.stores[name], query)
        for key in expected:
            assert actual[key] == expected[key], (name, key, query, operations)
