"""The embedded SQLite backend: one file shared by the Streamlit app, the voice server and the CLI.

WAL mode lets readers and one writer work at once. Every write runs in `BEGIN IMMEDIATE`, which
takes the write lock up front (no read-then-upgrade deadlocks) and makes a read-merge-write atomic
across processes; a busy database is retried with backoff before `StoreUnavailable` is raised.
Each thread gets its own connection, so FastAPI's threadpool and Streamlit's script threads can
share one `SqliteStore`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from agent.vocabulary import EscalationStatus
from db import models
from db import sqlite_alerts as alerts
from db import sqlite_bot_sessions as bot_sessions
from db import sqlite_queries as q
from db.function_payloads import check_name, check_page
from db.histogram import MAX_BINS
from db.models import (
    AlertLogEntry,
    BotSession,
    Call,
    CallFilters,
    CallMetrics,
    CallPage,
    CallStatus,
    CallUpdate,
    EmergencyAlert,
    EmergencyAlertPage,
    Event,
    LatencyDay,
    PipecatMetricItem,
    PipecatMetrics,
    Provider,
    SortKey,
)
from db.office_days import zone_named
from db.sqlite_loads import SqliteLoads
from db.store import NotMigrated, StoreError, StoreUnavailable, WriteFailed

SCHEMA_PATH = Path(__file__).with_name("sqlite_schema.sql")
# (name, file) applied in order, once each, and recorded in schema_migrations: what must run once
# (tables, columns, indexes, data changes). Append a new file; never edit an applied one. Triggers
# and views are edited in place in DEFINITIONS_PATH, applied after these in the same transaction.
MIGRATIONS: tuple[tuple[str, Path], ...] = (
    ("0001_initial", SCHEMA_PATH),
    ("0002_metric_columns", SCHEMA_PATH.with_name("sqlite_0002_metric_columns.sql")),
    ("0003_daily_rollup", SCHEMA_PATH.with_name("sqlite_0003_daily_rollup.sql")),
    ("0004_one_schema", SCHEMA_PATH.with_name("sqlite_0004_one_schema.sql")),
    ("0005_emergencies", SCHEMA_PATH.with_name("sqlite_0005_emergencies.sql")),
    ("0009_loads_scheduler", SCHEMA_PATH.with_name("sqlite_0009_loads_scheduler.sql")),
    ("0008_on_time_status", SCHEMA_PATH.with_name("sqlite_0008_on_time_status.sql")),
    ("0013_simulated_calls", SCHEMA_PATH.with_name("sqlite_0013_simulated_calls.sql")),
    ("0016_no_duration_bucket", SCHEMA_PATH.with_name("sqlite_0016_no_duration_bucket.sql")),
    ("0014_bot_sessions", SCHEMA_PATH.with_name("sqlite_0014_bot_sessions.sql")),
    ("0015_office_days", SCHEMA_PATH.with_name("sqlite_0015_office_days.sql")),
)
DEFINITIONS_PATH = SCHEMA_PATH.with_name("sqlite_definitions.sql")


def definitions_name() -> str:
    """The schema_migrations name of the definitions file as it is now."""
    digest = hashlib.sha256(DEFINITIONS_PATH.read_bytes()).hexdigest()
    return f"definitions@{digest[:16]}"


BULK_CHUNK_ROWS = 20_000
STATUS_RANK = {
    CallStatus.REGISTERED: 0,
    CallStatus.ONGOING: 1,
    CallStatus.ENDED: 2,
    CallStatus.ERROR: 2,
}
# Merged by their own rules: status, created_at, structured and transcript.
_OWN_RULES = {"status", "created_at", "structured", "transcript"}
JSON_FIELDS = tuple(n for n in models.JSON_FIELDS if n not in _OWN_RULES)
TIMESTAMP_FIELDS = tuple(n for n in models.TIMESTAMP_FIELDS if n not in _OWN_RULES)
# CallUpdate fields copied as they are (None means "unknown": never written over a known value).
PLAIN_FIELDS = tuple(
    n
    for n in models.UPDATE_FIELDS
    if n not in (*_OWN_RULES, *models.JSON_FIELDS, *models.TIMESTAMP_FIELDS)
)
DERIVED_FROM_STRUCTURED = models.RESULT_COLUMNS
# Plain copies of what metrics read inside keyword_hits and latency (see sqlite_0002_*.sql).
DERIVED_FROM_KEYWORDS = ("keyword_keys", "keyword_nonzero")
DERIVED_FROM_LATENCY = "e2e_latency_ms"
INSERT_COLUMNS = (
    "provider",
    "provider_call_id",
    "status",
    "created_at",
    "updated_at",
    *PLAIN_FIELDS,
    *TIMESTAMP_FIELDS,
    *JSON_FIELDS,
    "structured",
    *DERIVED_FROM_STRUCTURED,
    *DERIVED_FROM_KEYWORDS,
    DERIVED_FROM_LATENCY,
    "transcript",
)
INSERT_SQL = (
    f"INSERT INTO calllog ({', '.join(INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in INSERT_COLUMNS)})"
)
JSON_COLUMNS = models.JSON_FIELDS

T = TypeVar("T")


def _now() -> str:
    return q.to_timestamp(datetime.now(UTC))


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _structured_columns(structured: dict[str, Any] | None) -> dict[str, Any]:
    structured = structured or {}
    return {name: _text_or_none(structured.get(name)) for name in DERIVED_FROM_STRUCTURED}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _keyword_columns(keyword_hits: dict[str, Any] | None) -> dict[str, Any]:
    if keyword_hits is None:
        return dict.fromkeys(DERIVED_FROM_KEYWORDS)
    counted = {k: v for k, v in keyword_hits.items() if _is_number(v)}
    nonzero = {k: v for k, v in counted.items() if v != 0}
    return {"keyword_keys": _json(sorted(counted)), "keyword_nonzero": _json(nonzero or None)}


def _latency_column(latency: dict[str, Any] | None) -> dict[str, Any]:
    p50 = (latency or {}).get("e2e_p50_ms")
    return {DERIVED_FROM_LATENCY: float(p50) if _is_number(p50) else None}


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.value if hasattr(value, "value") else value)


def _new_row(provider: Provider, provider_call_id: str, update: CallUpdate, now: str) -> dict:
    row: dict[str, Any] = {
        "provider": provider.value,
        "provider_call_id": provider_call_id,
        "status": (update.status or CallStatus.REGISTERED).value,
        "created_at": q.to_timestamp(update.created_at) if update.created_at else now,
        "updated_at": now,
        "structured": _json(update.structured),
        "transcript": _json(update.transcript or []),
        **_structured_columns(update.structured),
        **_keyword_columns(update.keyword_hits),
        **_latency_column(update.latency),
    }
    for name in PLAIN_FIELDS:
        row[name] = getattr(update, name)
    for name in TIMESTAMP_FIELDS:
        value = getattr(update, name)
        row[name] = q.to_timestamp(value) if value else None
    for name in JSON_FIELDS:
        row[name] = _json(getattr(update, name))
    return row


def _merged_changes(existing: sqlite3.Row, update: CallUpdate, now: str) -> dict[str, Any]:
    """The columns an update changes on an existing call, by the Store's merge rules."""
    changes: dict[str, Any] = {"updated_at": now}
    for name in PLAIN_FIELDS:
        value = getattr(update, name)
        if value is not None:
            changes[name] = value
    for name in TIMESTAMP_FIELDS:
        value = getattr(update, name)
        if value is not None:
            changes[name] = q.to_timestamp(value)
    for name in JSON_FIELDS:
        value = getattr(update, name)
        if value is not None:
            changes[name] = _json(value)
    if update.status is not None:
        current = CallStatus(existing["status"])
        if STATUS_RANK[update.status] >= STATUS_RANK[current]:
            changes["status"] = update.status.value
    if update.transcript is not None and len(update.transcript) >= existing["transcript_turns"]:
        changes["transcript"] = _json(update.transcript)
    if update.structured is not None:
        changes["structured"] = _json(update.structured)
        changes.update(_structured_columns(update.structured))
    if update.keyword_hits is not None:
        changes.update(_keyword_columns(update.keyword_hits))
    if update.latency is not None:
        changes.update(_latency_column(update.latency))
    return changes


def _call_from_row(row: sqlite3.Row) -> Call:
    values = dict(row)
    for name in JSON_COLUMNS:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    if values["transcript"] is None:
        values["transcript"] = []
    return Call.model_validate(values)


class SqliteStore(SqliteLoads):
    """The Store on one SQLite file (created with its folder when missing); per-day figures are
    days in `office_timezone` (DISPATCH_TIMEZONE)."""

    backend = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_secs: float = 30.0,
        office_timezone: str = "UTC",
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_secs = busy_timeout_secs
        self.office_zone = zone_named(office_timezone)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()

    # -- connections and transactions ------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=min(self.busy_timeout_secs, 5.0),
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # used by one thread only; close() may run elsewhere
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA page_size = 8192")  # only takes effect on a new file
            self._with_busy_retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA cache_size = -16384")  # 16 MB per connection
            # SQLite's lower() folds ASCII only; driver names are often not ASCII.
            conn.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)
            q.add_scan_offsets(conn, self.office_zone)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(
                f"Cannot open the SQLite database at {self.path}: {exc}"
            ) from exc
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _with_busy_retry(self, operation: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.busy_timeout_secs
        attempt = 0
        while True:
            try:
                return operation()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            attempt += 1
            time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connection()
        try:
            return self._with_busy_retry(lambda: work(conn))
        except sqlite3.Error as exc:
            raise self._translate(exc, writing=False) from exc

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one write transaction: all of it is kept, or none of it."""
        conn = self._connection()

        def transaction() -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        try:
            return self._with_busy_retry(transaction)
        except sqlite3.Error as exc:
            raise self._translate(exc, writing=True) from exc

    def _translate(self, exc: sqlite3.Error, *, writing: bool) -> StoreError:
        message = str(exc)
        if "no such table" in message or "no such column" in message:
            return NotMigrated(
                f"The SQLite database at {self.path} is not migrated ({message}): "
                "run `python -m db migrate`."
            )
        if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
            return StoreUnavailable(
                f"The SQLite database at {self.path} stayed locked for more than "
                f"{self.busy_timeout_secs:.0f}s: {message}"
            )
        if writing and isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError):
            return WriteFailed(f"The database rejected the write: {message}")
        if writing:
            return WriteFailed(f"The write to {self.path} failed and was rolled back: {message}")
        return StoreUnavailable(f"The SQLite database at {self.path} failed: {message}")

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- schema ----------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply the pending migrations and the definitions file in one transaction, so no writer
        ever sees tables without their triggers; the names of the migrations applied now."""
        migrations = [(name, _split_statements(path.read_text())) for name, path in MIGRATIONS]
        definitions = _split_statements(DEFINITIONS_PATH.read_text())
        definitions_record = definitions_name()

        def apply(c: sqlite3.Connection) -> list[str]:
            c.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in c.execute("SELECT name FROM schema_migrations")}
            pending = [(name, statements) for name, statements in migrations if name not in done]
            for name, statements in pending:
                _run(c, name, statements)
            if pending or definitions_record not in done:
                _run(c, definitions_record, definitions)
            # Rollups never built, or keyed to another zone than the office's: rebuilt from calls.
            q.key_rollups_to(c, self.office_zone)
            return [name for name, _ in pending]

        return self._write(apply)

    def check(self) -> None:
        def applied_names(conn: sqlite3.Connection) -> set[str]:
            return {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}

        names = self._read(applied_names)
        expected = [name for name, _ in MIGRATIONS] + [definitions_name()]
        missing = [name for name in expected if name not in names]
        if missing:
            raise NotMigrated(
                f"The SQLite database at {self.path} lacks migrations {missing}: "
                "run `python -m db migrate`."
            )

    # -- drivers and agents ----------------------------------------------------------------

    def ensure_driver(self, name: str, phone: str | None = None) -> int:
        name = check_name(name, "A driver")
        phone = (phone or "").strip() or None

        def work(conn: sqlite3.Connection) -> int:
            if phone is not None:
                found = conn.execute("SELECT id FROM drivers WHERE phone = ?", (phone,)).fetchone()
            else:
                # A name alone finds that driver even if a phone was recorded later.
                found = conn.execute(
                    "SELECT id FROM drivers WHERE name = ? ORDER BY phone IS NULL DESC, id LIMIT 1",
                    (name,),
                ).fetchone()
            if found:
                return found[0]
            return conn.execute(
                "INSERT INTO drivers (name, phone, created_at) VALUES (?, ?, ?) RETURNING id",
                (name, phone, _now()),
            ).fetchone()[0]

        return self._write(work)

    def ensure_agent(self, provider: Provider, name: str, external_id: str | None = None) -> int:
        provider = Provider(provider)
        name = check_name(name, "An agent")
        external_id = (external_id or "").strip() or None

        def work(conn: sqlite3.Connection) -> int:
            if external_id is not None:
                found = conn.execute(
                    "SELECT id FROM agents WHERE provider = ? AND external_id = ?",
                    (provider.value, external_id),
                ).fetchone()
            else:
                found = conn.execute(
                    "SELECT id FROM agents WHERE provider = ? AND name = ? AND external_id IS NULL",
                    (provider.value, name),
                ).fetchone()
            if found:
                return found[0]
            return conn.execute(
                "INSERT INTO agents (provider, name, external_id, created_at) "
                "VALUES (?, ?, ?, ?) RETURNING id",
                (provider.value, name, external_id, _now()),
            ).fetchone()[0]

        return self._write(work)

    # -- calls -----------------------------------------------------------------------------

    def upsert_call(self, provider: Provider, provider_call_id: str, update: CallUpdate) -> Call:
        provider = Provider(provider)
        if not provider_call_id:
            raise ValueError("provider_call_id must not be empty.")

        def work(conn: sqlite3.Connection) -> int:
            now = _now()
            existing = conn.execute(
                "SELECT id, status, json_array_length(transcript) AS transcript_turns "
                "FROM calllog WHERE provider = ? AND provider_call_id = ?",
                (provider.value, provider_call_id),
            ).fetchone()
            if existing is None:
                row = _new_row(provider, provider_call_id, update, now)
                conn.execute(INSERT_SQL, [row[name] for name in INSERT_COLUMNS])
                return conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            changes = _merged_changes(existing, update, now)
            assignments = ", ".join(f"{name} = ?" for name in changes)
            conn.execute(
                f"UPDATE calllog SET {assignments} WHERE id = ?",
                [*changes.values(), existing["id"]],
            )
            return existing["id"]

        call_id = self._write(work)
        call = self._read(lambda conn: _fetch_call(conn, "c.id = ?", [call_id]))
        assert call is not None
        return call

    def save_transcript(
        self, provider: Provider, provider_call_id: str, transcript: list[dict[str, str]]
    ) -> None:
        self.upsert_call(provider, provider_call_id, CallUpdate(transcript=transcript))

    def record_event(self, event: Event) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO call_events (provider, provider_call_id, event_type, "
                "idempotency_key, payload, received_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (idempotency_key) DO NOTHING",
                (
                    event.provider.value,
                    event.provider_call_id,
                    event.event_type,
                    event.idempotency_key,
                    _json(event.payload),
                    _now(),
                ),
            )
            return cursor.rowcount == 1

        return self._write(work)

    def get_call(self, provider_call_id: str, provider: Provider | None = None) -> Call | None:
        if provider is None:
            return self._read(
                lambda conn: _fetch_call(conn, "c.provider_call_id = ?", [provider_call_id])
            )
        return self._read(
            lambda conn: _fetch_call(
                conn,
                "c.provider = ? AND c.provider_call_id = ?",
                [Provider(provider).value, provider_call_id],
            )
        )

    def search_calls(
        self,
        filters: CallFilters,
        *,
        sort: SortKey = "-created_at",
        page: int = 1,
        page_size: int = 50,
    ) -> CallPage:
        check_page(page, page_size)
        ordering = q.order_by(sort)
        condition, params = q.where(filters)

        def work(conn: sqlite3.Connection) -> CallPage:
            total = conn.execute(*q.count_sql(filters)).fetchone()[0]
            rows = conn.execute(
                f"SELECT {q.CALL_COLUMNS} FROM {q.CALLS_FROM} WHERE {condition} "
                f"ORDER BY {ordering} LIMIT ? OFFSET ?",
                [*params, page_size, (page - 1) * page_size],
            ).fetchall()
            items = [_call_from_row(row) for row in rows]
            return CallPage(items=items, total=total, page=page, page_size=page_size)

        return self._read(work)

    def iter_calls(self, filters: CallFilters, *, batch_size: int = 1000) -> Iterator[Call]:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1.")
        condition, params = q.where(filters)
        after: tuple[str, int] | None = None
        while True:
            keyset = ""
            keyset_params: list[Any] = []
            if after is not None:
                # (created_at, id) < after, phrased so the created_at index bounds the scan.
                keyset = " AND c.created_at <= ? AND (c.created_at < ? OR c.id < ?)"
                keyset_params = [after[0], after[0], after[1]]
            sql = (
                f"SELECT {q.CALL_COLUMNS} FROM {q.CALLS_FROM} WHERE {condition}{keyset} "
                "ORDER BY c.created_at DESC, c.id DESC LIMIT ?"
            )
            batch_params = [*params, *keyset_params, batch_size]
            rows = self._read(lambda conn, s=sql, p=batch_params: conn.execute(s, p).fetchall())
            for row in rows:
                yield _call_from_row(row)
            if len(rows) < batch_size:
                return
            after = (rows[-1]["created_at"], rows[-1]["id"])

    def on_time_counts(self, filters: CallFilters) -> dict[str, int]:
        condition, params = q.where(filters, figure=True)
        rows = self._read(
            lambda conn: conn.execute(
                f"""SELECT c.on_time_status, count(*) FROM calllog AS c
                    WHERE {condition} AND c.on_time_status IS NOT NULL
                    GROUP BY c.on_time_status""",
                params,
            ).fetchall()
        )
        return {status: calls for status, calls in rows}

    def retell_metrics(self, filters: CallFilters) -> CallMetrics:
        provider = filters.provider or Provider.RETELL
        return self._read(
            lambda conn: q.metrics(conn, filters, Provider(provider), self.office_zone)
        )

    def latency_trend(self, filters: CallFilters) -> list[LatencyDay]:
        return self._read(lambda conn: q.latency_trend(conn, filters))

    def duration_histogram(
        self, filters: CallFilters, *, max_bins: int = MAX_BINS
    ) -> list[dict[str, float | int]]:
        return self._read(lambda conn: q.duration_histogram(conn, filters, max_bins))

    def pipecat_metrics(
        self, filters: CallFilters, *, page: int = 1, page_size: int = 50
    ) -> PipecatMetrics:
        check_page(page, page_size)
        condition, params = q.where(filters, provider=Provider.PIPECAT, figure=True)

        def work(conn: sqlite3.Connection) -> PipecatMetrics:
            rows = conn.execute(
                f"""SELECT c.id, c.provider_call_id, c.driver_id, c.load_number, c.created_at,
                           c.duration_secs, c.interruptions_est, c.tokens_estimated,
                           c.keyword_hits
                    FROM calllog AS c WHERE {condition}
                    ORDER BY c.created_at DESC, c.id DESC LIMIT ? OFFSET ?""",
                [*params, page_size, (page - 1) * page_size],
            ).fetchall()
            items = [
                PipecatMetricItem.model_validate(
                    {
                        **dict(row),
                        "keyword_hits": json.loads(row["keyword_hits"])
                        if row["keyword_hits"]
                        else None,
                    }
                )
                for row in rows
            ]
            aggregates = q.metrics(conn, filters, Provider.PIPECAT, self.office_zone)
            # The same filters over the same calls: the total needs no second count.
            return PipecatMetrics(
                items=items,
                total=aggregates.total_calls,
                page=page,
                page_size=page_size,
                aggregates=aggregates,
            )

        return self._read(work)

    # -- emergencies -----------------------------------------------------------------------

    def set_escalation_status(
        self, provider: Provider, provider_call_id: str, status: EscalationStatus
    ) -> bool:
        status = EscalationStatus(status)
        return self._write(
            lambda conn: alerts.set_escalation_status(
                conn, Provider(provider), provider_call_id, status.value, _now()
            )
        )

    def raise_emergency_alert(self, provider: Provider, provider_call_id: str) -> bool:
        return self._write(
            lambda conn: alerts.raise_alert(conn, Provider(provider), provider_call_id, _now())
        )

    def open_emergency_alerts(self, *, limit: int = 20) -> EmergencyAlertPage:
        return self._read(lambda conn: alerts.open_alerts(conn, limit))

    def acknowledge_emergency_alert(self, alert_id: int, by: str) -> EmergencyAlert | None:
        by = (by or "").strip()
        if not by:
            raise WriteFailed("Who acknowledges the alert must be named.")
        return self._write(lambda conn: alerts.acknowledge(conn, alert_id, by, _now()))

    def emergency_alert_log(self, provider: Provider, provider_call_id: str) -> list[AlertLogEntry]:
        return self._read(lambda conn: alerts.alert_log(conn, Provider(provider), provider_call_id))

    # -- bot sessions ------------------------------------------------------------------------

    def register_bot_session(self, session: BotSession) -> None:
        self._write(lambda conn: bot_sessions.register(conn, session, datetime.now(UTC)))

    def join_bot_session(self, token: str, joined_by: str, now: datetime) -> BotSession | None:
        return self._write(lambda conn: bot_sessions.join(conn, token, joined_by, now))

    def waiting_bot_session(self, provider_call_id: str, now: datetime) -> BotSession | None:
        return self._read(lambda conn: bot_sessions.waiting(conn, provider_call_id, now))

    def bulk_insert_calls(self, rows: Iterable[tuple[Provider, str, CallUpdate]]) -> int:
        """Insert new calls in large transactions; calls that already exist are left as they are."""
        sql = INSERT_SQL + " ON CONFLICT (provider, provider_call_id) DO NOTHING"
        written = 0
        chunk: list[list[Any]] = []

        def insert_chunk(conn: sqlite3.Connection, values: list[list[Any]]) -> int:
            # Per-row rollup triggers would double the cost of a bulk load: pause them inside
            # this transaction and add the new rows (ids above the previous maximum) grouped.
            last_id = conn.execute("SELECT coalesce(max(id), 0) FROM calllog").fetchone()[0]
            conn.execute("INSERT INTO calllog_rollup_paused (paused) VALUES (1)")
            written = conn.executemany(sql, values).rowcount
            for statement in q.ROLLUP_ADD_NEW_CALLS:
                conn.execute(statement, (last_id,))
            conn.execute("DELETE FROM calllog_rollup_paused")
            return written

        def flush(values: list[list[Any]]) -> int:
            return self._write(lambda conn: insert_chunk(conn, values))

        now = _now()
        for provider, provider_call_id, update in rows:
            if not provider_call_id:
                raise ValueError("provider_call_id must not be empty.")
            row = _new_row(Provider(provider), provider_call_id, update, now)
            chunk.append([row[name] for name in INSERT_COLUMNS])
            if len(chunk) >= BULK_CHUNK_ROWS:
                written += flush(chunk)
                chunk = []
        if chunk:
            written += flush(chunk)
        return written


def _fetch_call(conn: sqlite3.Connection, condition: str, params: list[Any]) -> Call | None:
    row = conn.execute(
        f"SELECT {q.CALL_COLUMNS} FROM {q.CALLS_FROM} WHERE {condition} "
        "ORDER BY c.created_at DESC, c.id DESC LIMIT 1",
        params,
    ).fetchone()
    return _call_from_row(row) if row else None


def _unicode_lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _run(conn: sqlite3.Connection, name: str, statements: list[str]) -> None:
    for statement in statements:
        conn.execute(statement)
    conn.execute(
        "INSERT OR REPLACE INTO schema_migrations (name, applied_at) VALUES (?, ?)", (name, _now())
    )


def _split_statements(script: str) -> list[str]:
    """A SQL script as single statements (trigger bodies stay whole)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        if not pending and (not line.strip() or line.lstrip().startswith("--")):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"Incomplete SQL statement at the end of the script: {pending[:80]!r}")
    return statements
