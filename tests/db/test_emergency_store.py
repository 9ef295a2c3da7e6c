"""Emergency alerts and the escalation status, the same on every backend.

An alert is raised once per call and stays open until a manager acknowledges it (name and time
kept in its audit trail); the escalation status only moves up its rank, whichever write comes
last; the old "Connected to Human Dispatcher" rows are mapped when the schema is upgraded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from agent.vocabulary import LEGACY_CONNECTED_TO_HUMAN, EscalationStatus
from db.migration_runner import apply_migrations, migration_files
from db.models import CallUpdate, Provider
from db.sqlite_store import MIGRATIONS, SqliteStore, _split_statements
from db.store import Store, WriteFailed
from tests.db.older_schema import apply_numbered_files

Status = EscalationStatus


def emergency(escalation: Status, **fields: object) -> CallUpdate:
    structured = {
        "call_outcome": "Emergency Escalation",
        "emergency_type": "Accident",
        "injury_status": "Injured: my arm is bleeding",
        "emergency_location": "I-25 mile marker 210",
        "safety_status": "Safe",
        "load_secure": None,
        "escalation_status": escalation.value,
        **fields,
    }
    return CallUpdate(structured=structured, to_number="+15557654321")


def test_an_alert_is_raised_once_and_carries_what_the_office_needs(store: Store) -> None:
    driver = store.ensure_driver("Maria Lopez", "+15557654321")
    store.upsert_call(
        Provider.RETELL,
        "call_1",
        emergency(Status.CALLBACK_REQUESTED).model_copy(
            update={"driver_id": driver, "load_number": "LD-7"}
        ),
    )
    assert store.raise_emergency_alert(Provider.RETELL, "call_1") is True
    assert store.raise_emergency_alert(Provider.RETELL, "call_1") is False

    page = store.open_emergency_alerts()
    assert page.total == 1
    [alert] = page.items
    assert alert.open and alert.provider_call_id == "call_1"
    assert (alert.driver_name, alert.load_number, alert.emergency_type) == (
        "Maria Lopez",
        "LD-7",
        "Accident",
    )
    assert alert.injury_status == "Injured: my arm is bleeding"
    assert alert.emergency_location == "I-25 mile marker 210"
    assert alert.escalation_status == "Callback Requested"
    assert alert.driver_phone == "+15557654321"
    assert [e.action for e in store.emergency_alert_log(Provider.RETELL, "call_1")] == ["raised"]


def test_an_alert_raised_before_its_call_is_saved_still_shows(store: Store) -> None:
    assert store.raise_emergency_alert(Provider.PIPECAT, "pc_early")
    [alert] = store.open_emergency_alerts().items
    assert alert.provider == Provider.PIPECAT and alert.driver_name is None


def test_acknowledging_closes_the_alert_once_and_keeps_the_audit_trail(store: Store) -> None:
    for call_id in ("call_a", "call_b"):
        store.upsert_call(Provider.RETELL, call_id, emergency(Status.TRANSFER_REQUESTED))
        store.raise_emergency_alert(Provider.RETELL, call_id)
    newest_first = [a.provider_call_id for a in store.open_emergency_alerts().items]
    assert newest_first == ["call_b", "call_a"]
    alert_id = store.open_emergency_alerts().items[1].id

    acknowledged = store.acknowledge_emergency_alert(alert_id, "  Dana (night shift) ")
    assert acknowledged is not None and not acknowledged.open
    assert acknowledged.acknowledged_by == "Dana (night shift)"
    again = store.acknowledge_emergency_alert(alert_id, "Someone Else")
    assert again is not None and again.acknowledged_by == "Dana (night shift)"
    assert again.acknowledged_at == acknowledged.acknowledged_at

    page = store.open_emergency_alerts()
    assert page.total == 1 and [a.provider_call_id for a in page.items] == ["call_b"]
    trail = store.emergency_alert_log(Provider.RETELL, "call_a")
    assert [(e.action, e.actor) for e in trail] == [
        ("raised", None),
        ("acknowledged", "Dana (night shift)"),
    ]
    assert trail[0].at <= trail[1].at


def test_acknowledging_needs_a_name_and_an_existing_alert(store: Store) -> None:
    store.raise_emergency_alert(Provider.RETELL, "call_x")
    [alert] = store.open_emergency_alerts().items
    with pytest.raises(WriteFailed):
        store.acknowledge_emergency_alert(alert.id, "   ")
    assert store.open_emergency_alerts().total == 1
    assert store.acknowledge_emergency_alert(alert.id + 1000, "Dana") is None


def test_the_open_list_is_limited_but_the_count_is_exact(store: Store) -> None:
    for n in range(5):
        store.raise_emergency_alert(Provider.RETELL, f"call_{n}")
    page = store.open_emergency_alerts(limit=2)
    assert page.total == 5 and len(page.items) == 2


def test_the_providers_word_on_a_transfer_is_never_downgraded(store: Store) -> None:
    store.upsert_call(Provider.RETELL, "call_t", emergency(Status.TRANSFER_REQUESTED))
    assert store.set_escalation_status(Provider.RETELL, "call_t", Status.TRANSFER_CONNECTED)
    # The socket's final result comes later and only knows that a transfer was requested.
    store.upsert_call(
        Provider.RETELL, "call_t", emergency(Status.TRANSFER_REQUESTED, load_secure=True)
    )
    call = store.get_call("call_t", Provider.RETELL)
    assert call is not None and call.structured is not None
    assert call.structured["escalation_status"] == "Transfer Connected"
    assert call.structured["load_secure"] is True  # the rest of the result still merges
    # transfer_ended after transfer_bridged is not a failure of the transfer.
    store.set_escalation_status(Provider.RETELL, "call_t", Status.TRANSFER_FAILED)
    call = store.get_call("call_t", Provider.RETELL)
    assert call is not None and call.structured["escalation_status"] == "Transfer Connected"


def test_a_failed_transfer_outranks_the_request_and_a_callback(store: Store) -> None:
    store.upsert_call(Provider.RETELL, "call_f", emergency(Status.TRANSFER_REQUESTED))
    store.set_escalation_status(Provider.RETELL, "call_f", Status.TRANSFER_FAILED)
    store.upsert_call(Provider.RETELL, "call_f", emergency(Status.CALLBACK_REQUESTED))
    call = store.get_call("call_f", Provider.RETELL)
    assert call is not None and call.structured["escalation_status"] == "Transfer Failed"
    assert not store.set_escalation_status(Provider.RETELL, "nope", Status.TRANSFER_FAILED)


def test_a_status_set_before_the_result_is_kept_when_the_result_arrives(store: Store) -> None:
    store.upsert_call(Provider.RETELL, "call_e", CallUpdate(transcript=[]))
    store.set_escalation_status(Provider.RETELL, "call_e", Status.TRANSFER_CONNECTED)
    store.upsert_call(Provider.RETELL, "call_e", emergency(Status.TRANSFER_REQUESTED))
    call = store.get_call("call_e", Provider.RETELL)
    assert call is not None and call.structured["escalation_status"] == "Transfer Connected"
    assert call.call_outcome == "Emergency Escalation"


def test_the_databases_rank_the_statuses_as_the_vocabulary_does(
    make_store: Callable[[], Store],
) -> None:
    store = make_store()
    store.migrate()
    for status in Status:
        if isinstance(store, SqliteStore):
            with sqlite3.connect(store.path) as conn:
                [(rank,)] = conn.execute(
                    "SELECT rank FROM escalation_rank WHERE status = ?", (status.value,)
                ).fetchall()
        else:
            with psycopg.connect(store._database_url) as conn:  # type: ignore[attr-defined]
                [(rank,)] = conn.execute(
                    "select dispatch_escalation_rank(%s)", (status.value,)
                ).fetchall()
        assert rank == status.rank, status


def test_upgrading_sqlite_maps_the_old_connected_value(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    before = [m for m in MIGRATIONS if m[0] < "0005"]
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        for name, file in before:
            for statement in _split_statements(file.read_text()):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, '2026-01-01')", (name,))
        conn.execute(
            "INSERT INTO calllog (provider, provider_call_id, status, created_at, updated_at, "
            "structured) VALUES ('retell', 'old', 'ended', '2026-01-01T00:00:00.000000Z', "
            "'2026-01-01T00:00:00.000000Z', ?)",
            (f'{{"escalation_status": "{LEGACY_CONNECTED_TO_HUMAN}", "load_secure": true}}',),
        )
    store = SqliteStore(path)
    store.migrate()
    call = store.get_call("old", Provider.RETELL)
    assert call is not None
    assert call.structured == {"escalation_status": "Transfer Requested", "load_secure": True}
    store.close()


@pytest.mark.postgres
def test_upgrading_postgres_maps_the_old_connected_value(
    postgres_database: Callable[[], str],
) -> None:
    url = postgres_database()
    with psycopg.connect(url, autocommit=True) as conn:
        apply_numbered_files(conn, [f.name for f in migration_files() if f.name < "0006"])
        conn.execute(
            "insert into calllog (provider, provider_call_id, status, structured) values "
            "('retell', 'old', 'ended', %s::jsonb)",
            (f'{{"escalation_status": "{LEGACY_CONNECTED_TO_HUMAN}", "load_secure": true}}',),
        )
        apply_migrations(conn)
        [(structured,)] = conn.execute(
            "select structured from calllog where provider_call_id = 'old'"
        ).fetchall()
    assert structured == {"escalation_status": "Transfer Requested", "load_secure": True}
