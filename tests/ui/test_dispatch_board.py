"""The Loads and Dispatch board pages through AppTest on a real database: CSV import all or
nothing, the board ordered with emergencies first and filters in the URL, actions per load."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamlit.testing.v1 import AppTest

from db import Store
from db.load_models import LoadIn
from db.models import CallStatus, CallUpdate, Provider
from tests.ui.conftest import APP
from tests.ui.test_pages import run_page
from ui.loads import coordinates

NOW = datetime.now(UTC)


def a_load(number: str, **fields: object) -> LoadIn:
    values: dict[str, object] = {
        "load_number": number,
        "driver_name": f"Driver {number}",
        "driver_phone": "+13125550147",
        "origin": "Dallas, TX",
        "destination": "Denver, CO",
        "pickup_at": NOW - timedelta(hours=3),
        "pickup_tz": "America/Chicago",
        "delivery_at": NOW + timedelta(hours=20),
        "delivery_tz": "America/Denver",
    }
    values.update(fields)
    return LoadIn.model_validate(values)


def a_call(store: Store, call_id: str, load: str, structured: dict[str, object]) -> None:
    store.upsert_call(
        Provider.RETELL,
        call_id,
        CallUpdate(
            load_number=load,
            status=CallStatus.ENDED,
            structured=structured,
            transcript=[{"role": "user", "content": "hello"}],
        ),
    )


def test_places_resolve_offline() -> None:
    amarillo = coordinates("I-40 near Amarillo, TX")
    assert amarillo is not None and round(amarillo[0]) == 35 and round(amarillo[1]) == -102
    assert coordinates("somewhere near Denver") is not None
    assert coordinates("mile marker 12") is None


def test_board_lists_emergencies_first_with_location_eta_and_on_time(store: Store) -> None:
    store.upsert_loads([a_load("B-1"), a_load("B-2"), a_load("B-3")])
    a_call(
        store,
        "c1",
        "B-1",
        {
            "call_outcome": "In-Transit Update",
            "driver_status": "Driving",
            "current_location": "I-40 near Amarillo, TX",
            "eta": "4 PM",
            "on_time_status": "At risk",
            "minutes_late": 20,
        },
    )
    a_call(
        store,
        "c2",
        "B-2",
        {
            "call_outcome": "Emergency Escalation",
            "emergency_type": "Accident",
            "current_location": "Tulsa, OK",
        },
    )
    app = run_page(AppTest.from_file(APP, default_timeout=60), "dispatch_board")
    frame = app.dataframe[0].value
    assert list(frame["Load"]) == ["B-2", "B-1", "B-3"]
    first = frame.iloc[1]
    assert first["Location"] == "I-40 near Amarillo, TX" and first["ETA"] == "4 PM"
    assert first["On time"] == "At risk (20 min)"
    assert "EMERGENCY: Accident" in frame.iloc[0]["Alerts"]
    assert app.get("plotly_chart")  # the offline map
    assert {m.label: m.value for m in app.metric}["Open emergencies"] == "1"

    filtered = run_page(AppTest.from_file(APP, default_timeout=60), "dispatch_board", q="B-3")
    assert list(filtered.dataframe[0].value["Load"]) == ["B-3"]
    problems = run_page(
        AppTest.from_file(APP, default_timeout=60), "dispatch_board", problems="true"
    )
    assert list(problems.dataframe[0].value["Load"]) == ["B-2"]


def test_pause_resume_and_call_now_from_the_board(store: Store) -> None:
    store.upsert_loads([a_load("B-1")])
    app = run_page(AppTest.from_file(APP, default_timeout=60), "dispatch_board")
    app.button(key="pause").click().run()
    load = store.get_load("B-1")
    assert load is not None and load.paused
    app.button(key="resume").click().run()
    load = store.get_load("B-1")
    assert load is not None and not load.paused
    app.button(key="call_now").click().run()
    slots = store.load_slots("B-1")
    assert [s.kind.value for s in slots] == ["call_now"] and slots[0].quiet_exempt


def test_a_loads_page_shows_every_call_about_it(store: Store) -> None:
    store.upsert_loads([a_load("B-1")])
    a_call(store, "c1", "B-1", {"call_outcome": "In-Transit Update"})
    a_call(store, "c2", "B-1", {"call_outcome": "Incomplete"})
    a_call(store, "c3", "OTHER", {"call_outcome": "Incomplete"})
    app = run_page(AppTest.from_file(APP, default_timeout=60), "dispatch_board", load="B-1")
    assert len(app.dataframe[0].value) == 2


def test_csv_upload_imports_all_rows_or_lists_the_problems(store: Store) -> None:
    from ui.load_import import TEMPLATE

    bad = TEMPLATE + (
        "LD-1002,Sam,+13125550147,A,B,2026-03-08 02:30,America/Chicago,"
        "2026-03-09 14:00,America/Denver,\n"
    )
    app = run_page(AppTest.from_file(APP, default_timeout=60), "loads")
    app.file_uploader(key="loads_csv").set_value(("loads.csv", bad.encode(), "text/csv")).run()
    assert "nothing was imported" in app.error[0].value
    assert list(app.dataframe[0].value["Line"]) == [3]
    assert store.get_load("LD-1001") is None

    app.file_uploader(key="loads_csv").set_value(("loads.csv", TEMPLATE.encode(), "text/csv"))
    app.run()
    app.button(key="import").click().run()
    assert "Imported 1 loads" in app.success[0].value
    assert store.get_load("LD-1001") is not None
    assert "LD-1001" in list(app.data_editor(key="loads_editor").value["load_number"])
