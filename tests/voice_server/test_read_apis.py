"""The read APIs behind DISPATCH_API_KEY: one call, search, CSV export, metrics; and /healthz."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from db.csv_export import COLUMNS as CSV_COLUMNS
from db.models import CallFilters, CallStatus, CallUpdate, Provider
from tests.voice_server.conftest import auth
from ui.export import calls_csv

DAY = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def seed(store) -> None:
    maria = store.ensure_driver("Maria Lopez", "+14155550100")
    sam = store.ensure_driver("=Sam Okafor", "+14155550101")
    rows = [
        (
            "call_delay",
            CallUpdate(
                driver_id=maria,
                load_number="LD-1",
                status=CallStatus.ENDED,
                created_at=DAY,
                duration_secs=90,
                sentiment=-0.2,
                keyword_hits={"traffic": 2, "delay": 1},
                transcript=[
                    {"role": "agent", "content": "Hi Maria, where are you?"},
                    {"role": "user", "content": "Stuck in traffic near Phoenix."},
                ],
                structured={
                    "call_outcome": "In-Transit Update",
                    "driver_status": "Delayed",
                    "current_location": "Phoenix, AZ",
                    "delay_reason": "Traffic",
                    "on_time_status": "Late",
                    "minutes_late": 45,
                },
            ),
        ),
        (
            "call_emergency",
            CallUpdate(
                driver_id=sam,
                load_number="LD-2",
                status=CallStatus.ENDED,
                created_at=DAY + timedelta(days=1),
                duration_secs=40,
                transcript=[{"role": "user", "content": "I had an accident, blowout."}],
                structured={
                    "call_outcome": "Emergency Escalation",
                    "emergency_type": "Accident",
                    "escalation_status": "Transfer Requested",
                },
            ),
        ),
        ("call_live", CallUpdate(driver_id=maria, load_number="LD-3", status=CallStatus.ONGOING)),
    ]
    for call_id, update in rows:
        store.upsert_call(Provider.RETELL, call_id, update)
    store.upsert_call(
        Provider.PIPECAT, "pc_1", CallUpdate(driver_id=maria, load_number="LD-9", created_at=DAY)
    )


@pytest.fixture
def server(serve, make_settings):
    running = serve(make_settings())
    seed(running.store)
    return running


def get(server, path: str, **params) -> httpx.Response:
    return httpx.get(server.url + path, params=params, headers=auth())


def test_one_call_with_transcript_and_structured_result(server):
    call = get(server, "/api/v1/calls/call_delay").json()
    assert call["provider"] == "retell" and call["provider_call_id"] == "call_delay"
    assert call["driver_name"] == "Maria Lopez" and call["load_number"] == "LD-1"
    assert call["transcript"][1] == {"role": "user", "content": "Stuck in traffic near Phoenix."}
    assert call["structured"]["driver_status"] == "Delayed"
    assert call["duration_secs"] == 90 and call["keyword_hits"] == {"traffic": 2, "delay": 1}
    assert get(server, "/api/v1/calls/nope").status_code == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"call_delay", "call_emergency", "call_live", "pc_1"}),
        ({"provider": "retell"}, {"call_delay", "call_emergency", "call_live"}),
        ({"status": "ongoing"}, {"call_live"}),
        ({"call_outcome": "Emergency Escalation"}, {"call_emergency"}),
        ({"emergency_type": "Accident"}, {"call_emergency"}),
        ({"driver_status": "Delayed"}, {"call_delay"}),
        ({"on_time_status": "Late"}, {"call_delay"}),
        ({"on_time_status": "On Time"}, set()),
        ({"driver_name": "maria", "provider": "retell"}, {"call_delay", "call_live"}),
        ({"load_number": "LD-2"}, {"call_emergency"}),
        ({"query": "traffic"}, {"call_delay"}),
        ({"query": 'accident OR "; DROP TABLE calllog; --'}, set()),
        (
            {"created_from": (DAY + timedelta(hours=1)).isoformat(), "provider": "retell"},
            {"call_emergency", "call_live"},
        ),
    ],
)
def test_conversations_filter_and_count_exactly(server, params, expected):
    response = get(server, "/api/v1/conversations", page_size=50, **params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert {c["provider_call_id"] for c in page["items"]} == expected
    assert page["total"] == len(expected)


def test_conversations_paginate_with_the_exact_total(server):
    first = get(server, "/api/v1/conversations", page=1, page_size=2, sort="-created_at").json()
    second = get(server, "/api/v1/conversations", page=2, page_size=2, sort="-created_at").json()
    assert first["total"] == second["total"] == 4
    ids = [c["provider_call_id"] for c in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 4


def test_bad_query_parameters_are_field_errors(server):
    response = get(server, "/api/v1/conversations", status="paused", page=0, on_time_status="Soon")
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {
        ("query", "status"),
        ("query", "page"),
        ("query", "on_time_status"),
    }


def test_csv_export_has_every_matching_row_and_the_structured_fields(server):
    response = get(server, "/api/v1/conversations/export.csv", provider="retell")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    by_id = {row["provider_call_id"]: row for row in rows}
    assert set(by_id) == {"call_delay", "call_emergency", "call_live"}
    delay = by_id["call_delay"]
    assert delay["driver_name"] == "Maria Lopez" and delay["current_location"] == "Phoenix, AZ"
    assert delay["call_outcome"] == "In-Transit Update" and delay["keywords"] == "delay:1;traffic:2"
    assert delay["duration_secs"] == "90.0" and delay["transcript_turns"] == "2"
    emergency = by_id["call_emergency"]
    assert emergency["escalation_status"] == "Transfer Requested"
    assert emergency["driver_name"] == "'=Sam Okafor"  # never a spreadsheet formula


def test_csv_export_is_the_same_file_as_streamlits_download(server):
    response = get(server, "/api/v1/conversations/export.csv", provider="retell")

    streamlit_file = calls_csv(server.store, CallFilters(provider=Provider.RETELL))

    assert response.content == streamlit_file


def test_metrics_summarise_retell_calls(server):
    metrics = get(server, "/api/v1/metrics").json()
    assert metrics["total_calls"] == 3
    assert metrics["emergencies"] == 1
    assert metrics["by_outcome"]["Emergency Escalation"] == 1


def test_metrics_count_simulated_calls_only_when_asked(server):
    server.store.upsert_call(
        Provider.RETELL,
        "sim_1",
        CallUpdate(
            call_type="simulated",
            status=CallStatus.ENDED,
            created_at=DAY,
            structured={"call_outcome": "Emergency Escalation", "emergency_type": "Accident"},
        ),
    )
    assert get(server, "/api/v1/metrics").json()["total_calls"] == 3
    included = get(server, "/api/v1/metrics", include_simulated="true").json()
    assert included["total_calls"] == 4 and included["emergencies"] == 2
    listed = get(server, "/api/v1/conversations").json()["items"]
    assert "sim_1" in [call["provider_call_id"] for call in listed]
    assert get(server, "/api/v1/metrics", include_simulated="maybe").status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/calls/call_delay",
        "/api/v1/conversations",
        "/api/v1/conversations/export.csv",
        "/api/v1/metrics",
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Bearer", "wrong-key"])
def test_read_apis_need_the_dispatch_api_key(server, path, header):
    headers = {"Authorization": header} if header else {}
    response = httpx.get(server.url + path, headers=headers)
    assert response.status_code == 401
    assert "Maria" not in response.text


def test_without_a_dispatch_api_key_configured_reads_are_503(serve, make_settings):
    server = serve(make_settings(dispatch_api_key=None))
    response = httpx.get(server.url + "/api/v1/conversations", headers=auth())
    assert response.status_code == 503
    assert "DISPATCH_API_KEY" in response.json()["detail"]


def test_healthz_needs_no_key_and_reports_the_database(server):
    response = httpx.get(server.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "backend": "sqlite",
        "outbox_depth": 0,
        "transfer_line": "configured",
        "unsaved_calls": 0,
    }


def test_healthz_shows_a_missing_transfer_line(serve, make_settings):
    server = serve(make_settings(dispatch_transfer_number=None))
    health = httpx.get(server.url + "/healthz").json()
    assert health["transfer_line"] == "missing"
    assert health["status"] == "ok"  # a server without a line still serves calls


def test_openapi_documents_every_route(server):
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    for path in (
        "/api/v1/calls/start",
        "/api/v1/calls/{provider_call_id}",
        "/api/v1/conversations",
        "/api/v1/conversations/export.csv",
        "/api/v1/metrics",
        "/api/v1/retell/webhook",
        "/healthz",
        "/api/v1/pipecat/event",
    ):
        assert path in paths
    assert httpx.get(server.url + "/docs").status_code == 200


def test_healthz_reports_an_unusable_database_as_degraded(serve, make_settings, tmp_path):
    not_a_file = tmp_path / "a-directory.db"
    not_a_file.mkdir()
    server = serve(make_settings(database_url=f"sqlite:///{not_a_file}"))
    response = httpx.get(server.url + "/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert str(tmp_path) not in response.text


def test_times_without_an_offset_are_the_offices_and_metrics_count_its_days(serve, make_settings):
    """A date in a filter is that day in the office (DISPATCH_TIMEZONE), as in the app; 23:30 in
    Chicago is the next day in UTC and still counts on the office's day."""
    from zoneinfo import ZoneInfo

    chicago = ZoneInfo("America/Chicago")
    server = serve(make_settings(dispatch_timezone="America/Chicago"))
    for call_id, day in (("late-7th", 7), ("late-8th", 8)):  # daylight time from the 8th
        at = datetime(2026, 3, day, 23, 30, tzinfo=chicago)
        server.store.upsert_call(Provider.RETELL, call_id, CallUpdate(created_at=at))
    the_8th = {"created_from": "2026-03-08", "created_to": "2026-03-09"}
    page = get(server, "/api/v1/conversations", **the_8th).json()
    assert [c["provider_call_id"] for c in page["items"]] == ["late-8th"]
    per_day = get(server, "/api/v1/metrics").json()["per_day"]
    assert [(d["day"], d["calls"]) for d in per_day] == [("2026-03-07", 1), ("2026-03-08", 1)]
    with_offset = {"created_from": "2026-03-08T06:00:00+00:00"}  # an offset is kept as given
    assert get(server, "/api/v1/conversations", **with_offset).json()["total"] == 1
