"""Both databases' `calllog` against the models: the same columns, types, nullability and
checks, so a column added to one schema and not the other (or not to the models) fails here."""

from __future__ import annotations

import sqlite3
import types
import typing
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from db.function_payloads import figure_filters_json
from db.models import Call, CallFilters, CallStatus, CallUpdate, Provider
from db.postgres_store import PostgresStore
from db.sqlite_store import SqliteStore

# Columns each schema derives from others for its indexes; no model reads them.
# Columns of calllog kept by the database and read by its own SQL only (PostgreSQL's
# `simulated` lets one filter clause read calllog and the rollups alike).
DERIVED = {"sqlite": {"keyword_keys", "keyword_nonzero"}, "postgres": {"search_tsv", "simulated"}}
# latency["e2e_p50_ms"] and structured["on_time_status"], on both
SHARED_DERIVED = {"e2e_latency_ms": float, "on_time_status": str}
JOINED = {"driver_name"}  # Call's column from drivers, not calllog
SQLITE_TYPES = {int: "INTEGER", float: "REAL", str: "TEXT", datetime: "TEXT", dict: "TEXT"}
POSTGRES_TYPES = {
    int: {"bigint", "integer"},
    float: {"double precision"},
    str: {"text"},
    datetime: {"timestamp with time zone"},
    dict: {"jsonb"},
}
NON_NEGATIVE = [
    name
    for name, field in CallUpdate.model_fields.items()
    if any(getattr(rule, "ge", None) == 0 for rule in field.metadata)
]


def python_type(annotation: Any) -> tuple[type, bool]:
    """(the stored kind, whether None is allowed) of a model field's annotation."""
    args = typing.get_args(annotation)
    nullable = type(None) in args
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in args if a is not type(None))
    origin = typing.get_origin(annotation) or annotation
    if origin in (list, dict) or (isinstance(origin, type) and issubclass(origin, BaseModel)):
        return dict, nullable  # JSON
    if isinstance(origin, type) and issubclass(origin, Enum):
        return str, nullable
    return origin, nullable


def model_columns() -> dict[str, tuple[type, bool]]:
    columns = {
        name: python_type(field.annotation)
        for name, field in Call.model_fields.items()
        if name not in JOINED
    }
    columns["transcript"] = (dict, False)  # defaults to [], never NULL
    return columns | {name: (kind, True) for name, kind in SHARED_DERIVED.items()}


@pytest.fixture
def sqlite_conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    store = SqliteStore(tmp_path / "schema.db")
    store.migrate()
    store.close()
    with sqlite3.connect(tmp_path / "schema.db") as conn:
        yield conn


@pytest.fixture
def postgres_conn(postgres_database: Callable[[], str]) -> Iterator[psycopg.Connection]:
    url = postgres_database()
    store = PostgresStore(url)
    store.migrate()
    store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def sqlite_columns(conn: sqlite3.Connection) -> dict[str, tuple[str, bool]]:
    rows = conn.execute("PRAGMA table_xinfo(calllog)").fetchall()
    return {name: (kind, not notnull and not pk) for _, name, kind, notnull, _, pk, _ in rows}


def postgres_columns(conn: psycopg.Connection) -> dict[str, tuple[str, bool]]:
    rows = conn.execute(
        "select column_name, data_type, is_nullable from information_schema.columns "
        "where table_schema = current_schema() and table_name = 'calllog'"
    ).fetchall()
    return {name: (kind, nullable == "YES") for name, kind, nullable in rows}


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
COLUMNS_AND_TYPES: dict[str, tuple[Callable[[Any], dict[str, tuple[str, bool]]], Any]] = {
    "sqlite": (sqlite_columns, {kind: {name} for kind, name in SQLITE_TYPES.items()}),
    "postgres": (postgres_columns, POSTGRES_TYPES),
}


@pytest.mark.parametrize("backend", DATABASES)
def test_each_database_has_the_models_columns_with_their_types_and_nullability(
    backend: str, request: pytest.FixtureRequest
) -> None:
    columns_of, types = COLUMNS_AND_TYPES[backend]
    actual = columns_of(request.getfixturevalue(f"{backend}_conn"))
    expected = model_columns()

    assert set(actual) - DERIVED[backend] == set(expected)
    for name, (kind, nullable) in expected.items():
        assert actual[name][0] in types[kind], name
        if actual[name][1]:  # a NULL the table may hold, the model must read
            assert nullable, name


@pytest.mark.postgres
def test_both_databases_make_the_same_columns_not_null(
    sqlite_conn: sqlite3.Connection, postgres_conn: psycopg.Connection
) -> None:
    lite, pg = sqlite_columns(sqlite_conn), postgres_columns(postgres_conn)
    shared = set(model_columns())

    assert {n for n in shared if not lite[n][1]} == {n for n in shared if not pg[n][1]}


def raw_insert_sqlite(conn: sqlite3.Connection, **values: Any) -> None:
    row = {"provider": "retell", "provider_call_id": "raw", "created_at": "2026-01-01T00:00:00Z",
           "updated_at": "2026-01-01T00:00:00Z", **values}  # fmt: skip
    conn.execute(
        f"INSERT INTO calllog ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
        list(row.values()),
    )


def raw_insert_postgres(conn: psycopg.Connection, **values: Any) -> None:
    row = {"provider": "retell", "provider_call_id": "raw", **values}
    conn.execute(
        f"insert into calllog ({', '.join(row)}) values ({', '.join('%s' for _ in row)})",
        list(row.values()),
    )


@pytest.mark.parametrize("column", NON_NEGATIVE)
def test_the_models_and_sqlite_refuse_a_negative_count_or_duration(
    sqlite_conn: sqlite3.Connection, column: str
) -> None:
    with pytest.raises(ValueError):
        CallUpdate(**{column: -1})
    with pytest.raises(sqlite3.IntegrityError):
        raw_insert_sqlite(sqlite_conn, **{column: -1})
    raw_insert_sqlite(sqlite_conn, **{column: 0})
    with pytest.raises(sqlite3.IntegrityError):
        sqlite_conn.execute(f"UPDATE calllog SET {column} = -1")


@pytest.mark.postgres
@pytest.mark.parametrize("column", NON_NEGATIVE)
def test_postgres_refuses_a_negative_count_or_duration(
    postgres_conn: psycopg.Connection, column: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        raw_insert_postgres(postgres_conn, **{column: -1})
    raw_insert_postgres(postgres_conn, **{column: 0})


@pytest.mark.postgres
def test_both_databases_take_exactly_the_vocabularys_providers_and_statuses(
    sqlite_conn: sqlite3.Connection, postgres_conn: psycopg.Connection
) -> None:
    for i, (provider, status) in enumerate(
        [(p.value, s.value) for p in Provider for s in CallStatus]
    ):
        raw_insert_sqlite(sqlite_conn, provider=provider, status=status, provider_call_id=f"c{i}")
        raw_insert_postgres(
            postgres_conn, provider=provider, status=status, provider_call_id=f"c{i}"
        )
    for bad in ({"provider": "twilio"}, {"status": "finished"}):
        with pytest.raises(sqlite3.IntegrityError):
            raw_insert_sqlite(sqlite_conn, provider_call_id="bad", **bad)
        with pytest.raises(psycopg.errors.CheckViolation):
            raw_insert_postgres(postgres_conn, provider_call_id="bad", **bad)


@pytest.mark.postgres
def test_both_rollups_key_a_call_without_a_duration_alike(
    sqlite_conn: sqlite3.Connection, postgres_conn: psycopg.Connection
) -> None:
    for i, duration in enumerate([None, 0.0, 59.9, 60.0]):
        raw_insert_sqlite(sqlite_conn, provider_call_id=f"c{i}", duration_secs=duration)
        raw_insert_postgres(postgres_conn, provider_call_id=f"c{i}", duration_secs=duration)
    query = "select duration_bucket, calls from calllog_daily order by 1"

    assert sqlite_conn.execute(query).fetchall() == [(-1, 1), (0, 2), (1, 1)]
    assert postgres_conn.execute(query).fetchall() == [(-1, 1), (0, 2), (1, 1)]


@pytest.mark.postgres
def test_postgres_filter_function_takes_exactly_the_models_filters(
    postgres_conn: psycopg.Connection,
) -> None:
    """dispatch_call_filter lists the filters it knows by hand: every CallFilters field the
    Store sends must be one of them, and nothing else."""
    every_filter = CallFilters(
        query="tire", provider=Provider.RETELL, status=CallStatus.ENDED, call_outcome="x",
        driver_status="x", emergency_type="x", driver_id=1, driver_name="x", load_number="x",
        created_from=datetime(2026, 1, 1), created_to=datetime(2026, 1, 2), failed_start=False,
        on_time_status="Late",
    )  # fmt: skip
    payload = figure_filters_json(every_filter, "America/Chicago")
    figure_keys = {"simulated", "timezone"}  # what a figure adds: its days' zone
    assert set(payload) == set(CallFilters.model_fields) - {"include_simulated"} | figure_keys
    postgres_conn.execute("select dispatch_call_filter(%s)", (Jsonb(payload),))
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown filter"):
        postgres_conn.execute("select dispatch_call_filter(%s)", (Jsonb({"colour": "red"}),))


@pytest.mark.postgres
def test_postgres_rollup_functions_read_columns_calllog_has(
    postgres_conn: psycopg.Connection,
) -> None:
    listed = postgres_conn.execute("select dispatch_rollup_columns('c')").fetchone()[0]
    names = {column.removeprefix("c.") for column in listed.split(", ")}
    assert names <= set(postgres_columns(postgres_conn))
    assert {"duration_secs", "keyword_hits", "e2e_latency_ms", "simulated"} <= names
