"""SQLite queries of bot sessions (db/sqlite_0014_bot_sessions.sql).

Each function runs inside the caller's transaction on one connection; `SqliteStore` wraps them
in its read and write transactions (a write is `BEGIN IMMEDIATE`, so two processes joining one
token are serialized and the second finds it spent).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

from db.models import BotSession
from db.sqlite_queries import to_timestamp

EXPIRED_KEPT = timedelta(days=1)  # how long an expired session stays before it is dropped
_COLUMNS = "token, provider_call_id, transport, context, expires_at"


def register(conn: sqlite3.Connection, session: BotSession, now: datetime) -> None:
    dropped_before = to_timestamp(now - EXPIRED_KEPT)
    conn.execute("DELETE FROM bot_sessions WHERE expires_at < ?", (dropped_before,))
    conn.execute(
        "INSERT INTO bot_sessions (token, provider_call_id, transport, context, created_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            session.token,
            session.provider_call_id,
            session.transport,
            json.dumps(session.context, ensure_ascii=False, separators=(",", ":")),
            to_timestamp(now),
            to_timestamp(session.expires_at),
        ),
    )


def join(conn: sqlite3.Connection, token: str, joined_by: str, now: datetime) -> BotSession | None:
    stamp = to_timestamp(now)
    row = conn.execute(
        f"UPDATE bot_sessions SET joined_at = ?, joined_by = ? "
        f"WHERE token = ? AND joined_at IS NULL AND expires_at > ? RETURNING {_COLUMNS}",
        (stamp, joined_by, token, stamp),
    ).fetchone()
    return _session(row) if row else None


def waiting(conn: sqlite3.Connection, provider_call_id: str, now: datetime) -> BotSession | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM bot_sessions WHERE provider_call_id = ? AND joined_at IS NULL "
        "AND expires_at > ? ORDER BY expires_at DESC LIMIT 1",
        (provider_call_id, to_timestamp(now)),
    ).fetchone()
    return _session(row) if row else None


def _session(row: tuple) -> BotSession:
    token, provider_call_id, transport, context, expires_at = tuple(row)
    return BotSession(
        token=token,
        provider_call_id=provider_call_id,
        transport=transport,
        context=json.loads(context),
        expires_at=datetime.fromisoformat(expires_at),
    )
