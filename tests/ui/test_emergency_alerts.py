"""Open emergencies as the office sees them: an alert on top of the dashboard, the count in every
page's sidebar, acknowledged by name with the audit trail kept; a missing transfer line shown."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from db import Store
from db.models import CallUpdate, Provider
from settings import get_settings
from tests.ui.conftest import APP, AddCall

PAGES = ("dashboard", "trigger_call", "conversations", "analytics")


def run_page(page: str, **query_params: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    for name, value in query_params.items():
        app.query_params[name] = value
    app.switch_page(f"pages/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def emergency_call(add_call: AddCall, store: Store, driver: str, load: str) -> str:
    call_id = add_call(
        emergency="Accident",
        driver=driver,
        load=load,
    )
    structured = store.get_call(call_id).structured  # type: ignore[union-attr]
    structured |= {
        "injury_status": "Injured: my arm is bleeding",
        "emergency_location": "I-25 mile marker 210",
        "escalation_status": "Callback Requested",
    }
    store.upsert_call(
        Provider.RETELL, call_id, CallUpdate(structured=structured, to_number="+15557654321")
    )
    assert store.raise_emergency_alert(Provider.RETELL, call_id)
    return call_id


def sidebar_text(app: AppTest) -> str:
    return " ".join(e.value for e in app.sidebar.error) + " ".join(
        c.value for c in app.sidebar.caption
    )


def test_an_open_emergency_is_an_alert_on_top_of_the_dashboard(
    add_call: AddCall, store: Store
) -> None:
    emergency_call(add_call, store, "Ana Silva", "LD-7")
    app = run_page("dashboard")
    banner = app.main.error[0].value
    assert "1 open emergency" in banner
    alert = " ".join(m.value for m in app.main.markdown)
    for shown in ("Accident", "Ana Silva", "LD-7", "my arm is bleeding", "I-25 mile marker 210"):
        assert shown in alert, shown
    assert "ago" in alert and "+15557654321" in alert and "callback requested" in alert


def test_every_page_counts_the_open_emergencies_in_its_sidebar(
    add_call: AddCall, store: Store
) -> None:
    emergency_call(add_call, store, "Ana Silva", "LD-7")
    emergency_call(add_call, store, "Tom Becker", "LD-8")
    for page in PAGES:
        assert "2 open emergencies" in sidebar_text(run_page(page)), page


def test_acknowledging_takes_the_alert_off_and_keeps_its_trail(
    add_call: AddCall, store: Store
) -> None:
    call_id = emergency_call(add_call, store, "Ana Silva", "LD-7")
    app = run_page("dashboard")
    [alert] = store.open_emergency_alerts().items

    app.button(key=f"ack_{alert.id}").click().run()  # no name typed: refused
    assert any("Type your name" in e.value for e in app.error)
    assert store.open_emergency_alerts().total == 1

    app.text_input(key=f"ack_name_{alert.id}").set_value("Dana").run()
    app.button(key=f"ack_{alert.id}").click().run()
    assert not app.exception
    assert store.open_emergency_alerts().total == 0
    assert not any("open emergenc" in e.value for e in app.main.error)

    later = run_page("conversations", call=call_id, provider="retell")
    assert "No open emergencies" in sidebar_text(later)
    trail = " ".join(c.value for c in later.main.caption)
    assert "alert raised at" in trail and "acknowledged by Dana at" in trail


def test_a_missing_transfer_line_is_shown_on_the_dashboard_and_the_trigger_page(
    add_call: AddCall, monkeypatch
) -> None:
    add_call()
    for page in ("dashboard", "trigger_call"):
        warnings = " ".join(w.value for w in run_page(page).warning)
        assert "No transfer line" in warnings, page
    monkeypatch.setenv("DISPATCH_TRANSFER_NUMBER", "+13125550199")
    get_settings.cache_clear()
    for page in ("dashboard", "trigger_call"):
        warnings = " ".join(w.value for w in run_page(page).warning)
        assert "No transfer line" not in warnings, page
