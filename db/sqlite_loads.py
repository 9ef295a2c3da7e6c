"""Loads, call slots, attempts and the webhook outbox on SQLite (mixed into `SqliteStore`).

The same behaviour as the SQL functions of db/migrations/definitions/loads.sql. Every write
runs in one `BEGIN IMMEDIATE` transaction, so a claim is atomic across processes; the scheduler
still runs alone on a SQLite file (it holds a lock file), as the database has no SKIP LOCKED.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from agent.vocabulary import CallOutcome
from db.load_models import (
    ACTIVE_LOAD_STATUSES,
    AttemptPlacement,
    AttemptRow,
    BoardFilters,
    BoardRow,
    ClaimedAttempt,
    Load,
    LoadIn,
    LoadPatch,
    LoadSlots,
    OpenAttempt,
    PlannedSlot,
    Settlement,
    SlotRow,
    WebhookDelivery,
)
from db.sqlite_queries import to_timestamp

T = TypeVar("T")

LOAD_COLUMNS = (
    "load_number, driver_name, driver_phone, origin, destination, pickup_at, pickup_tz, "
    "delivery_at, delivery_tz, status, plan, paused, unreachable_at, arrival_confirmed_at, "
    "version, created_at, updated_at"
)
PREFIXED_LOAD_COLUMNS = ", ".join(
    f"l.{name.strip()} AS l_{name.strip()}" for name in LOAD_COLUMNS.split(",")
)
PLANNED_FIELDS = ("pickup_at", "pickup_tz", "delivery_at", "delivery_tz", "status", "plan")


def _load(row: sqlite3.Row | dict[str, Any], prefix: str = "") -> Load:
    values = {name.strip(): row[prefix + name.strip()] for name in LOAD_COLUMNS.split(",")}
    values["plan"] = json.loads(values["plan"]) if values["plan"] else None
    values["paused"] = bool(values["paused"])
    return Load.model_validate(values)


def _plan_text(plan: dict[str, Any] | None) -> str | None:
    return json.dumps(plan, sort_keys=True, separators=(",", ":")) if plan else None


class SqliteLoads:
    """The loads and scheduler part of the Store; needs `_read` and `_write` of SqliteStore."""

    _read: Callable[..., Any]
    _write: Callable[..., Any]

    # -- loads -----------------------------------------------------------------------------

    def upsert_loads(self, loads: Sequence[LoadIn]) -> int:
        def work(conn: sqlite3.Connection) -> int:
            now = to_timestamp(datetime.now(UTC))
            for load in loads:
                values = {
                    "load_number": load.load_number,
                    "driver_name": load.driver_name,
                    "driver_phone": load.driver_phone,
                    "origin": load.origin,
                    "destination": load.destination,
                    "pickup_at": to_timestamp(load.pickup_at),
                    "pickup_tz": load.pickup_tz,
                    "delivery_at": to_timestamp(load.delivery_at),
                    "delivery_tz": load.delivery_tz,
                    "status": load.status.value,
                    "plan": _plan_text(load.plan),
                }
                old = conn.execute(
                    f"SELECT {', '.join(PLANNED_FIELDS)} FROM loads WHERE load_number = ?",
                    (load.load_number,),
                ).fetchone()
                if old is None:
                    names = [*values, "created_at", "updated_at"]
                    conn.execute(
                        f"INSERT INTO loads ({', '.join(names)}) "
                        f"VALUES ({', '.join('?' for _ in names)})",
                        [*values.values(), now, now],
                    )
                    continue
                changed = any(old[name] != values[name] for name in PLANNED_FIELDS)
                assignments = ", ".join(f"{name} = ?" for name in values)
                conn.execute(
                    f"UPDATE loads SET {assignments}, version = version + ?, updated_at = ? "
                    "WHERE load_number = ?",
                    [*values.values(), int(changed), now, load.load_number],
                )
            return len(loads)

        return self._write(work)

    def get_load(self, load_number: str) -> Load | None:
        row = self._read(
            lambda conn: conn.execute(
                f"SELECT {LOAD_COLUMNS} FROM loads WHERE load_number = ?", (load_number,)
            ).fetchone()
        )
        return _load(row) if row else None

    def update_load(self, load_number: str, patch: LoadPatch) -> Load | None:
        def work(conn: sqlite3.Connection) -> Load | None:
            changes: dict[str, Any] = {}
            if patch.status is not None:
                changes["status"] = patch.status.value
            if patch.paused is not None:
                changes["paused"] = int(patch.paused)
            if patch.plan is not None:
                changes["plan"] = _plan_text(patch.plan)
            if patch.clear_unreachable:
                changes["unreachable_at"] = None
            assignments = "".join(f"{name} = ?, " for name in changes)
            row = conn.execute(
                f"UPDATE loads SET {assignments}version = version + 1, updated_at = ? "
                f"WHERE load_number = ? RETURNING {LOAD_COLUMNS}",
                [*changes.values(), to_timestamp(datetime.now(UTC)), load_number],
            ).fetchone()
            return _load(row) if row else None

        return self._write(work)

    # -- planning --------------------------------------------------------------------------

    def loads_to_plan(self, limit: int = 500) -> list[Load]:
        rows = self._read(
            lambda conn: conn.execute(
                f"SELECT {LOAD_COLUMNS} FROM loads WHERE planned_version < version "
                "ORDER BY load_number LIMIT ?",
                (limit,),
            ).fetchall()
        )
        return [_load(row) for row in rows]

    def sync_loads_slots(self, plans: Sequence[LoadSlots]) -> int:
        def work(conn: sqlite3.Connection) -> int:
            now = to_timestamp(datetime.now(UTC))
            planned = 0
            for plan in plans:
                current = conn.execute(
                    "SELECT 1 FROM loads WHERE load_number = ? AND version = ?",
                    (plan.load_number, plan.version),
                ).fetchone()
                if current is None:
                    continue  # changed since it was read: planned again next round
                for slot in plan.slots:
                    _insert_slot(conn, plan.load_number, slot, now, update_untouched=True)
                keys = [slot.slot_key for slot in plan.slots]
                conn.execute(
                    "UPDATE call_slots SET state = 'cancelled', updated_at = ? "
                    "WHERE load_number = ? AND state = 'due' AND attempts = 0 "
                    "AND kind IN ('interval', 'before_delivery', 'after_delivery') "
                    "AND slot_key NOT IN (SELECT value FROM json_each(?))",
                    (now, plan.load_number, json.dumps(keys)),
                )
                conn.execute(
                    "UPDATE loads SET planned_version = ? WHERE load_number = ?",
                    (plan.version, plan.load_number),
                )
                planned += 1
            return planned

        return self._write(work)

    def add_call_slot(self, load_number: str, slot: PlannedSlot) -> bool:
        now = to_timestamp(datetime.now(UTC))
        return self._write(
            lambda conn: _insert_slot(conn, load_number, slot, now, update_untouched=False)
        )

    # -- claiming and settling attempts ----------------------------------------------------

    def claim_due_slots(
        self,
        engine: str,
        now: datetime,
        *,
        limit: int,
        cap: int,
        owner: str,
        lease_secs: float,
        late_secs: float | None,
    ) -> list[ClaimedAttempt]:
        at = to_timestamp(now)
        late_before = to_timestamp(now - timedelta(seconds=late_secs)) if late_secs else None

        def work(conn: sqlite3.Connection) -> list[ClaimedAttempt]:
            in_flight = conn.execute(
                "SELECT count(*) FROM call_attempts WHERE engine = ? AND state <> 'settled'",
                (engine,),
            ).fetchone()[0]
            room = min(limit, cap - in_flight)
            if room <= 0:
                return []
            due = conn.execute(
                f"""SELECT s.id, s.attempts, s.max_attempts, s.kind, s.due_at, s.engine,
                           s.load_number,
                           CASE WHEN l.status IN ('delivered', 'cancelled')
                                    THEN 'load_' || l.status
                                WHEN s.kind = 'after_delivery'
                                     AND l.arrival_confirmed_at IS NOT NULL
                                    THEN 'arrival_confirmed'
                                WHEN :late IS NOT NULL AND s.attempts = 0 AND s.due_at < :late
                                    THEN 'too_late'
                           END AS skip_reason,
                           {PREFIXED_LOAD_COLUMNS}
                   FROM call_slots s JOIN loads l ON l.load_number = s.load_number
                   WHERE s.engine = :engine AND s.state = 'due' AND s.next_attempt_at <= :at
                     AND (NOT l.paused OR l.status IN ('delivered', 'cancelled'))
                   ORDER BY s.next_attempt_at, s.id LIMIT :room""",
                {"engine": engine, "at": at, "room": room, "late": late_before},
            ).fetchall()
            lease_until = to_timestamp(now + timedelta(seconds=lease_secs))
            claimed = []
            for slot in due:
                if slot["skip_reason"] is not None:
                    conn.execute(
                        "UPDATE call_slots SET state = 'skipped', last_outcome = ?, "
                        "updated_at = ? WHERE id = ?",
                        (slot["skip_reason"], at, slot["id"]),
                    )
                    continue
                attempt = slot["attempts"] + 1
                conn.execute(
                    "UPDATE call_slots SET state = 'calling', attempts = ?, updated_at = ? "
                    "WHERE id = ?",
                    (attempt, at, slot["id"]),
                )
                attempt_id = conn.execute(
                    "INSERT INTO call_attempts (slot_id, attempt, load_number, engine, state, "
                    "claimed_by, claimed_at, lease_until) "
                    "VALUES (?, ?, ?, ?, 'placing', ?, ?, ?) RETURNING id",
                    (slot["id"], attempt, slot["load_number"], engine, owner, at, lease_until),
                ).fetchone()[0]
                claimed.append(
                    ClaimedAttempt(
                        attempt_id=attempt_id,
                        slot_id=slot["id"],
                        attempt=attempt,
                        max_attempts=slot["max_attempts"],
                        kind=slot["kind"],
                        due_at=slot["due_at"],
                        engine=slot["engine"],
                        load=_load(slot, prefix="l_"),
                    )
                )
            return claimed

        return self._write(work)

    def mark_attempts_placed(self, placements: Sequence[AttemptPlacement], now: datetime) -> int:
        def work(conn: sqlite3.Connection) -> int:
            return conn.executemany(
                "UPDATE call_attempts SET provider = ?, provider_call_id = ?, placed_at = ?, "
                "state = CASE WHEN state = 'placing' THEN 'placed' ELSE state END WHERE id = ?",
                [
                    (p.provider, p.provider_call_id, to_timestamp(now), p.attempt_id)
                    for p in placements
                ],
            ).rowcount

        return self._write(work)

    def open_attempts(
        self, now: datetime, stale_before: datetime, limit: int = 500
    ) -> list[OpenAttempt]:

        def work(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            return conn.execute(
                f"""SELECT a.id AS attempt_id, a.slot_id, a.attempt, s.max_attempts, s.kind,
                           a.load_number, a.engine, a.state, a.claimed_at, a.lease_until,
                           a.placed_at, a.provider, a.provider_call_id, c.status AS call_status,
                           c.disconnection_reason, c.call_outcome, c.emergency_type,
                           (SELECT count(*) FROM json_each(c.transcript) AS t
                            WHERE json_extract(t.value, '$.role') = 'user') AS user_turns,
                           {PREFIXED_LOAD_COLUMNS}
                    FROM call_attempts a
                    JOIN call_slots s ON s.id = a.slot_id
                    JOIN loads l ON l.load_number = a.load_number
                    LEFT JOIN calllog c ON c.provider = a.provider
                                       AND c.provider_call_id = a.provider_call_id
                    WHERE a.state <> 'settled' AND (
                        (a.state = 'placing' AND a.lease_until < :now)
                        OR (a.state = 'placed' AND (c.status IN ('ended', 'error')
                                                    OR a.placed_at < :stale)))
                    ORDER BY a.id LIMIT :limit""",
                {"now": to_timestamp(now), "stale": to_timestamp(stale_before), "limit": limit},
            ).fetchall()

        attempts = []
        for row in self._read(work):
            values = {k: v for k, v in dict(row).items() if not k.startswith("l_")}
            if values["call_status"] is None:
                values["user_turns"] = None
            values["load"] = _load(row, prefix="l_")
            attempts.append(OpenAttempt.model_validate(values))
        return attempts

    def settle_attempt(self, attempt_id: int, settlement: Settlement, now: datetime) -> bool:
        at = to_timestamp(now)

        def work(conn: sqlite3.Connection) -> bool:
            attempt = conn.execute(
                "UPDATE call_attempts SET state = 'settled', outcome = ?, "
                "detail = coalesce(?, detail), settled_at = ? "
                "WHERE id = ? AND state <> 'settled' RETURNING slot_id, load_number",
                (settlement.outcome.value, settlement.detail, at, attempt_id),
            ).fetchone()
            if attempt is None:
                return False
            retry_at = to_timestamp(settlement.retry_at) if settlement.retry_at else None
            if retry_at is not None:
                state = "due"
            elif settlement.outcome == "completed":
                state = "done"
            else:
                state = "unreachable"
            conn.execute(
                "UPDATE call_slots SET state = ?, next_attempt_at = coalesce(?, next_attempt_at),"
                " last_outcome = ?, updated_at = ? WHERE id = ?",
                (state, retry_at, settlement.outcome.value, at, attempt["slot_id"]),
            )
            if settlement.unreachable:
                conn.execute(
                    "UPDATE loads SET unreachable_at = ?, updated_at = ? WHERE load_number = ?",
                    (at, at, attempt["load_number"]),
                )
            elif settlement.outcome == "completed":
                conn.execute(
                    "UPDATE loads SET unreachable_at = NULL, updated_at = ? "
                    "WHERE load_number = ? AND unreachable_at IS NOT NULL",
                    (at, attempt["load_number"]),
                )
            if settlement.arrival_confirmed:
                conn.execute(
                    "UPDATE loads SET arrival_confirmed_at = coalesce(arrival_confirmed_at, ?) "
                    "WHERE load_number = ?",
                    (at, attempt["load_number"]),
                )
            return True

        return self._write(work)

    # -- reading for the board and the load page -------------------------------------------

    def load_attempts(self, load_number: str) -> list[AttemptRow]:
        rows = self._read(
            lambda conn: conn.execute(
                """SELECT a.id AS attempt_id, s.slot_key, s.kind, s.due_at, a.attempt, a.engine,
                          a.state, a.outcome, a.claimed_at, a.placed_at, a.provider,
                          a.provider_call_id, a.detail
                   FROM call_attempts a JOIN call_slots s ON s.id = a.slot_id
                   WHERE a.load_number = ? ORDER BY a.id DESC""",
                (load_number,),
            ).fetchall()
        )
        return [AttemptRow.model_validate(dict(row)) for row in rows]

    def load_slots(self, load_number: str) -> list[SlotRow]:
        rows = self._read(
            lambda conn: conn.execute(
                """SELECT slot_key, kind, due_at, engine, max_attempts, quiet_exempt, state,
                          attempts, next_attempt_at, last_outcome
                   FROM call_slots WHERE load_number = ? ORDER BY next_attempt_at, id""",
                (load_number,),
            ).fetchall()
        )
        return [
            SlotRow.model_validate({**dict(row), "quiet_exempt": bool(row["quiet_exempt"])})
            for row in rows
        ]

    def dispatch_board(self, filters: BoardFilters) -> list[BoardRow]:
        conditions = ["1"]
        # An emergency stays open until a later call with a real answer says otherwise.
        params: list[Any] = [CallOutcome.INCOMPLETE.value]
        if not filters.include_inactive:
            conditions.append(f"l.status IN ({', '.join('?' for _ in ACTIVE_LOAD_STATUSES)})")
            params += [status.value for status in ACTIVE_LOAD_STATUSES]
        if filters.query and filters.query.strip():
            conditions.append(
                "(instr(unicode_lower(l.load_number), ?) > 0 "
                "OR instr(unicode_lower(l.driver_name), ?) > 0)"
            )
            needle = filters.query.strip().lower()
            params += [needle, needle]
        sql = f"""
            SELECT {PREFIXED_LOAD_COLUMNS}, lc.provider AS last_call_provider,
                   lc.provider_call_id AS last_call_id, lc.created_at AS last_call_at,
                   lc.status AS last_call_status, lc.structured AS last_structured,
                   (SELECT c.emergency_type FROM calllog c
                    WHERE c.load_number = l.load_number AND c.call_outcome <> ?
                    ORDER BY c.created_at DESC, c.id DESC LIMIT 1) AS last_emergency_type,
                   (SELECT min(s.next_attempt_at) FROM call_slots s
                    WHERE s.load_number = l.load_number AND s.state = 'due') AS next_due_at,
                   (SELECT s.kind FROM call_slots s
                    WHERE s.load_number = l.load_number AND s.state = 'due'
                    ORDER BY s.next_attempt_at LIMIT 1) AS next_kind,
                   coalesce((SELECT s.attempts FROM call_slots s
                             WHERE s.load_number = l.load_number AND s.attempts > 0
                             ORDER BY s.updated_at DESC, s.id DESC LIMIT 1), 0) AS attempts,
                   (SELECT w.last_error FROM webhook_outbox w
                    WHERE w.load_number = l.load_number AND w.state = 'failed'
                    ORDER BY w.id DESC LIMIT 1) AS webhook_failure
            FROM loads l
            LEFT JOIN calllog lc ON lc.id = (
                SELECT c.id FROM calllog c WHERE c.load_number = l.load_number
                ORDER BY c.created_at DESC, c.id DESC LIMIT 1)
            WHERE {" AND ".join(conditions)}"""
        rows = self._read(lambda conn: conn.execute(sql, params).fetchall())
        board = []
        for row in rows:
            values = {k: v for k, v in dict(row).items() if not k.startswith("l_")}
            values["last_structured"] = (
                json.loads(values["last_structured"]) if values["last_structured"] else None
            )
            values["open_emergency"] = values["last_emergency_type"] is not None
            entry = BoardRow(load=_load(row, prefix="l_"), **values)
            if filters.only_problems and not (
                entry.open_emergency or entry.load.unreachable_at or entry.webhook_failure
            ):
                continue
            board.append(entry)
        board.sort(key=_board_order)
        return board

    # -- webhook outbox --------------------------------------------------------------------

    def enqueue_finished_calls(self, target: str, since: datetime, now: datetime) -> int:
        return self._write(
            lambda conn: (
                conn.execute(
                    """INSERT INTO webhook_outbox (target, provider, provider_call_id, load_number,
                                               next_attempt_at, created_at)
                   SELECT ?, c.provider, c.provider_call_id, c.load_number, ?, ?
                   FROM loads l JOIN calllog c ON c.load_number = l.load_number
                   WHERE c.status IN ('ended', 'error') AND c.created_at >= ?
                   ON CONFLICT (target, provider, provider_call_id) DO NOTHING""",
                    (target, to_timestamp(now), to_timestamp(now), to_timestamp(since)),
                ).rowcount
            )
        )

    def claim_webhooks(
        self, target: str, now: datetime, *, limit: int, lease_secs: float
    ) -> list[WebhookDelivery]:
        def work(conn: sqlite3.Connection) -> list[WebhookDelivery]:
            rows = conn.execute(
                """UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?
                   WHERE id IN (SELECT id FROM webhook_outbox
                                WHERE target = ? AND state = 'pending' AND next_attempt_at <= ?
                                ORDER BY next_attempt_at, id LIMIT ?)
                   RETURNING id, target, provider, provider_call_id, load_number, attempts,
                             created_at""",
                (
                    to_timestamp(now + timedelta(seconds=lease_secs)),
                    target,
                    to_timestamp(now),
                    limit,
                ),
            ).fetchall()
            return sorted(
                (WebhookDelivery.model_validate(dict(row)) for row in rows), key=lambda d: d.id
            )

        return self._write(work)

    def settle_webhook(
        self,
        delivery_id: int,
        state: str,
        now: datetime,
        *,
        retry_at: datetime | None,
        status: int | None,
        error: str | None,
    ) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE webhook_outbox SET state = ?, last_status = ?, last_error = ?, "
                "next_attempt_at = coalesce(?, next_attempt_at), delivered_at = ? WHERE id = ?",
                (
                    state,
                    status,
                    error,
                    to_timestamp(retry_at) if retry_at else None,
                    to_timestamp(now) if state == "delivered" else None,
                    delivery_id,
                ),
            )
        )


def _insert_slot(
    conn: sqlite3.Connection,
    load_number: str,
    slot: PlannedSlot,
    now: str,
    *,
    update_untouched: bool,
) -> bool:
    due = to_timestamp(slot.due_at)
    conflict = (
        "DO UPDATE SET engine = excluded.engine, max_attempts = excluded.max_attempts, "
        "updated_at = excluded.updated_at WHERE call_slots.state = 'due' "
        "AND call_slots.attempts = 0"
        if update_untouched
        else "DO NOTHING"
    )
    cursor = conn.execute(
        "INSERT INTO call_slots (load_number, slot_key, kind, due_at, engine, max_attempts, "
        "quiet_exempt, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        f"ON CONFLICT (load_number, slot_key) {conflict}",
        (
            load_number,
            slot.slot_key,
            slot.kind.value,
            due,
            slot.engine,
            slot.max_attempts,
            int(slot.quiet_exempt),
            due,
            now,
        ),
    )
    return cursor.rowcount == 1


def _board_order(row: BoardRow) -> tuple[Any, ...]:
    far = datetime.max.replace(tzinfo=None)
    next_due = row.next_due_at.replace(tzinfo=None) if row.next_due_at else far
    return (
        not row.open_emergency,
        row.load.unreachable_at is None,
        next_due,
        row.load.load_number,
    )
