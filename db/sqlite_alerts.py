"""SQLite queries of emergency alerts and escalation statuses (db/sqlite_0005_emergencies.sql).

Each function runs inside the caller's transaction on one connection; `SqliteStore` wraps them
in its read and write transactions.
"""

from __future__ import annotations

import sqlite3

from db.models import AlertLogEntry, EmergencyAlert, EmergencyAlertPage, Provider

_ALERT_SELECT = """
SELECT a.id, a.provider, a.provider_call_id, a.raised_at, a.acknowledged_at, a.acknowledged_by,
       d.name AS driver_name, c.load_number, c.emergency_type,
       json_extract(c.structured, '$.injury_status') AS injury_status,
       json_extract(c.structured, '$.safety_status') AS safety_status,
       json_extract(c.structured, '$.emergency_location') AS emergency_location,
       json_extract(c.structured, '$.escalation_status') AS escalation_status,
       CASE WHEN json_extract(c.metadata, '$.direction') = 'inbound'
            THEN c.from_number ELSE c.to_number END AS driver_phone
FROM emergency_alerts a
LEFT JOIN calllog c ON c.provider = a.provider AND c.provider_call_id = a.provider_call_id
LEFT JOIN drivers d ON d.id = c.driver_id
"""


def set_escalation_status(
    conn: sqlite3.Connection, provider: Provider, provider_call_id: str, status: str, now: str
) -> bool:
    cursor = conn.execute(
        "UPDATE calllog SET structured = json_set(coalesce(structured, '{}'), "
        "'$.escalation_status', ?), updated_at = ? WHERE provider = ? AND provider_call_id = ?",
        (status, now, provider.value, provider_call_id),
    )
    return cursor.rowcount > 0


def raise_alert(
    conn: sqlite3.Connection, provider: Provider, provider_call_id: str, now: str
) -> bool:
    row = conn.execute(
        "INSERT INTO emergency_alerts (provider, provider_call_id, raised_at) VALUES (?, ?, ?) "
        "ON CONFLICT (provider, provider_call_id) DO NOTHING RETURNING id",
        (provider.value, provider_call_id, now),
    ).fetchone()
    if row is None:
        return False
    conn.execute(
        "INSERT INTO emergency_alert_log (alert_id, action, at) VALUES (?, 'raised', ?)",
        (row[0], now),
    )
    return True


def open_alerts(conn: sqlite3.Connection, limit: int) -> EmergencyAlertPage:
    rows = conn.execute(
        _ALERT_SELECT + "WHERE a.acknowledged_at IS NULL ORDER BY a.raised_at DESC, a.id DESC "
        "LIMIT ?",
        (max(limit, 0),),
    ).fetchall()
    total = conn.execute(
        "SELECT count(*) FROM emergency_alerts WHERE acknowledged_at IS NULL"
    ).fetchone()[0]
    return EmergencyAlertPage(items=[_alert(row) for row in rows], total=total)


def acknowledge(
    conn: sqlite3.Connection, alert_id: int, by: str, now: str
) -> EmergencyAlert | None:
    cursor = conn.execute(
        "UPDATE emergency_alerts SET acknowledged_at = ?, acknowledged_by = ? "
        "WHERE id = ? AND acknowledged_at IS NULL",
        (now, by, alert_id),
    )
    if cursor.rowcount:
        conn.execute(
            "INSERT INTO emergency_alert_log (alert_id, action, actor, at) "
            "VALUES (?, 'acknowledged', ?, ?)",
            (alert_id, by, now),
        )
    row = conn.execute(_ALERT_SELECT + "WHERE a.id = ?", (alert_id,)).fetchone()
    return _alert(row) if row else None


def alert_log(
    conn: sqlite3.Connection, provider: Provider, provider_call_id: str
) -> list[AlertLogEntry]:
    rows = conn.execute(
        "SELECT l.alert_id, l.action, l.actor, l.at FROM emergency_alert_log l "
        "JOIN emergency_alerts a ON a.id = l.alert_id "
        "WHERE a.provider = ? AND a.provider_call_id = ? ORDER BY l.at, l.id",
        (provider.value, provider_call_id),
    ).fetchall()
    return [AlertLogEntry.model_validate(dict(row)) for row in rows]


def _alert(row: sqlite3.Row) -> EmergencyAlert:
    return EmergencyAlert.model_validate(dict(row))
