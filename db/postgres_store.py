"""PostgreSQL backend (psycopg 3): every operation is one call to a SQL function from the
migrations (db/function_store.py), the same functions SupabaseStore calls through PostgREST.

Also works with a Supabase project's connection string (prepared statements are off, so the
transaction pooler is fine).

Every call has a deadline. A stopped server refuses the connection, but a frozen one (SIGSTOP, a
stuck network) accepts TCP and then never answers, and libpq would wait forever: connecting is
bounded by `connect_timeout`, a query by the server's `statement_timeout` and, for a server that
cannot even enforce that, by a watchdog that shuts the connection's socket down a moment after
the deadline, so the waiting thread gets a connection error (`StoreUnavailable`) instead of
hanging. TCP keepalives and `tcp_user_timeout` drop a connection whose peer vanished.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from db import migration_runner
from db.function_payloads import check_call_key
from db.function_store import FunctionStore
from db.models import JSON_FIELDS, RESULT_COLUMNS, UPDATE_FIELDS, CallUpdate, Provider
from db.office_days import zone_named
from db.store import NotMigrated, StoreAuthError, StoreError, StoreUnavailable, WriteFailed

MIGRATE_HINT = "run `python -m db migrate`"
STATEMENT_TIMEOUT_SECS = 5.0
WATCHDOG_GRACE_SECS = 1.0  # past the deadline, for the server to cancel the statement itself
MAX_IDLE_CONNECTIONS = 4
BULK_CHUNK_ROWS = 20_000
VACUUM_AFTER_ROWS = 50_000

# COPY columns for bulk_insert_calls: every CallUpdate field plus the identity and the
# structured result's indexed copies (the same derivation as insert_calls in SQL).
STRUCTURED_COLUMNS = RESULT_COLUMNS
JSON_COLUMNS = frozenset(JSON_FIELDS)
UPDATE_COLUMNS = UPDATE_FIELDS
COPY_COLUMNS = ("provider", "provider_call_id", *UPDATE_COLUMNS, *STRUCTURED_COLUMNS)


def redacted_url(database_url: str) -> str:
    """The URL without its password, for error messages."""
    try:
        parts = conninfo_to_dict(database_url)
    except psycopg.Error:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", database_url)
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = parts.get("host", "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname', '')}"


class PostgresStore(FunctionStore):
    backend = "postgres"

    def __init__(
        self,
        database_url: str,
        *,
        connect_timeout: int = 5,
        statement_timeout_secs: float = STATEMENT_TIMEOUT_SECS,
        office_timezone: str = "UTC",
    ) -> None:
        self._database_url = database_url
        self.office_zone = zone_named(office_timezone)
        self._connect_timeout = max(2, connect_timeout)  # libpq's minimum
        self.statement_timeout_secs = statement_timeout_secs
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._watchdog = SocketWatchdog()

    # -- connections -----------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        try:
            conn = psycopg.connect(
                self._database_url,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                prepare_threshold=None,
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=3,
                keepalives_count=3,
                tcp_user_timeout=int(self.statement_timeout_secs * 1000),
            )
            with self._watchdog.deadline(conn, self.statement_timeout_secs + WATCHDOG_GRACE_SECS):
                # A session setting, not a startup option: poolers refuse unknown options.
                conn.execute(
                    "select set_config('statement_timeout', %s, false)",
                    (f"{int(self.statement_timeout_secs * 1000)}ms",),
                )
            return conn
        except psycopg.Error as exc:
            reason = str(exc).strip()
            password = self._password()
            if password:
                reason = reason.replace(password, "***")
            raise StoreUnavailable(
                f"Cannot connect to PostgreSQL at DATABASE_URL={redacted_url(self._database_url)}: "
                f"{reason}. Check that the server is running and DATABASE_URL is right."
            ) from None

    def _password(self) -> str | None:
        try:
            return conninfo_to_dict(self._database_url).get("password")  # type: ignore[return-value]
        except psycopg.Error:
            return None

    @contextmanager
    def _connection(
        self, *, write: bool = False, bounded: bool = True
    ) -> Iterator[psycopg.Connection]:
        """A pooled autocommit connection; database errors become typed Store errors.

        `bounded` (everything but migrations and bulk loads): the watchdog cuts the connection
        when the work outlives the statement deadline."""
        if self._closed:
            raise StoreUnavailable("this PostgresStore is closed")
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        limit = self.statement_timeout_secs + WATCHDOG_GRACE_SECS if bounded else None
        try:
            with self._watchdog.deadline(conn, limit):
                yield conn
        except psycopg.Error as exc:
            raise self._typed_error(exc, write=write) from exc
        finally:
            self._release(conn)

    def _release(self, conn: psycopg.Connection) -> None:
        idle = conn.info.transaction_status == TransactionStatus.IDLE
        usable = idle and not conn.closed and not conn.broken
        with self._lock:
            if usable and not self._closed and len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    def _typed_error(self, exc: psycopg.Error, *, write: bool) -> StoreError:
        if isinstance(exc, pg_errors.UndefinedTable | pg_errors.UndefinedFunction):
            return NotMigrated(f"The PostgreSQL schema is missing or behind: {MIGRATE_HINT}.")
        if isinstance(exc, pg_errors.InsufficientPrivilege):
            return StoreAuthError(
                f"PostgreSQL refused the DATABASE_URL user: {exc.diag.message_primary}"
            )
        if isinstance(exc, psycopg.OperationalError):
            return StoreUnavailable(
                f"Lost the PostgreSQL connection (DATABASE_URL={redacted_url(self._database_url)})"
                f": {exc.diag.message_primary or exc}"
            )
        message = exc.diag.message_primary or str(exc)
        if write:
            return WriteFailed(f"The write was rejected and nothing was kept: {message}")
        return StoreError(f"PostgreSQL query failed: {message}")

    def _call(
        self, sql: str, params: tuple[Any, ...] | dict[str, Any], *, write: bool = False
    ) -> Any:
        """Run `select fn(...)` and return its single value."""
        with self._connection(write=write) as conn:
            row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None

    def _function(self, name: str, params: dict[str, Any], *, write: bool = False) -> Any:
        arguments = ", ".join(f"{key} => %({key})s" for key in params)
        values = {
            key: Jsonb(value) if isinstance(value, dict | list) else value
            for key, value in params.items()
        }
        return self._call(f"select {name}({arguments})", values, write=write)  # type: ignore[arg-type]

    # -- schema ----------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        with self._connection(write=True, bounded=False) as conn:
            try:
                applied = migration_runner.apply_migrations(conn)
            except migration_runner.MigrationFailed as exc:
                raise WriteFailed(str(exc)) from exc
            # Days in the office's zone: rollups keyed to another zone are rebuilt.
            conn.execute("select dispatch_key_rollups_to(%s)", (self.office_zone.key,))
            return applied

    def check(self) -> None:
        with self._connection() as conn:
            pending = migration_runner.pending_migrations(conn)
        if pending:
            raise NotMigrated(
                f"The PostgreSQL schema is missing migrations {', '.join(pending)}: {MIGRATE_HINT}."
            )

    def bulk_insert_calls(self, rows: Iterable[tuple[Provider, str, CallUpdate]]) -> int:
        """COPY into a session staging table, then insert what is new, a chunk per transaction.

        Calls that already exist are left as they are (so an interrupted seed can be rerun);
        returns how many were inserted. A failing chunk keeps none of its rows.
        """
        columns = ", ".join(COPY_COLUMNS)
        written = 0
        now = datetime.now(UTC)
        with self._connection(write=True, bounded=False) as conn:
            chunk: list[tuple[Any, ...]] = []
            for provider, provider_call_id, update in rows:
                check_call_key(provider_call_id)
                chunk.append(_copy_row(provider, provider_call_id, update, now))
                if len(chunk) >= BULK_CHUNK_ROWS:
                    written += _insert_chunk(conn, columns, chunk)
                    chunk = []
            if chunk:
                written += _insert_chunk(conn, columns, chunk)
            if written >= VACUUM_AFTER_ROWS:
                _refresh_visibility_and_statistics(conn)
        return written

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        self._watchdog.stop()


class SocketWatchdog:
    """Shuts down the socket of a connection still busy past its deadline.

    One thread for every connection: deadlines are registered in the order they expire (same
    limit, later start), so the thread only ever waits for the oldest one.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._running: dict[int, tuple[float, psycopg.Connection]] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.cut = 0  # connections cut so far

    @contextmanager
    def deadline(self, conn: psycopg.Connection, limit: float | None) -> Iterator[None]:
        if limit is None:
            yield
            return
        key = id(conn)
        with self._condition:
            self._running[key] = (time.monotonic() + limit, conn)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="postgres-watchdog", daemon=True
                )
                self._thread.start()
            self._condition.notify()
        try:
            yield
        finally:
            with self._condition:  # under the lock: the watchdog never cuts a reused connection
                self._running.pop(key, None)

    def _watch(self) -> None:
        with self._condition:
            while not self._stopped:
                if not self._running:
                    self._condition.wait()
                    continue
                key, (expires, conn) = next(iter(self._running.items()))
                wait = expires - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                del self._running[key]
                self.cut += 1
                _shut_down(conn)

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()


def _shut_down(conn: psycopg.Connection) -> None:
    """Wake the thread blocked on this connection: it reads end-of-file and fails at once."""
    try:
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
    except (OSError, psycopg.Error):
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


def _copy_row(
    provider: Provider, provider_call_id: str, update: CallUpdate, now: datetime
) -> tuple[Any, ...]:
    values: dict[str, Any] = {name: getattr(update, name) for name in UPDATE_COLUMNS}
    values["status"] = update.status.value if update.status else "registered"
    values["created_at"] = update.created_at or now
    values["transcript"] = update.transcript or []
    for name in JSON_COLUMNS:
        if values[name] is not None:
            values[name] = Jsonb(values[name])
    structured = update.structured or {}
    return (
        Provider(provider).value,
        provider_call_id,
        *(values[name] for name in UPDATE_COLUMNS),
        *(structured.get(name) for name in STRUCTURED_COLUMNS),
    )


def _insert_chunk(conn: psycopg.Connection, columns: str, chunk: list[tuple[Any, ...]]) -> int:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "create temp table if not exists calllog_staging on commit delete rows as "  # type: ignore[arg-type]
            f"select {columns} from calllog with no data"
        )
        with cur.copy(f"copy calllog_staging ({columns}) from stdin") as copy:  # type: ignore[arg-type]
            for row in chunk:
                copy.write_row(row)
        cur.execute(
            f"insert into calllog ({columns}) select {columns} from calllog_staging "  # type: ignore[arg-type]
            "on conflict (provider, provider_call_id) do nothing"
        )
        return cur.rowcount


def _refresh_visibility_and_statistics(conn: psycopg.Connection) -> None:
    """After a large load: planner statistics, and the visibility map that lets the metrics
    read the covering index alone, without waiting for autovacuum. A role that does not own
    the table only gets a warning, and autovacuum catches up later."""
    conn.execute("vacuum (analyze) calllog")
