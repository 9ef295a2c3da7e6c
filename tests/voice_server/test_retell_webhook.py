"""Retell webhooks: signed as retell-sdk signs them; forged, expired and replayed deliveries."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import httpx
import pytest

from db.models import CallStatus, CallUpdate, Provider
from tests.voice_server.conftest import START_MS, retell_call_object, signed

WEBHOOK = "/api/v1/retell/webhook"


def post(server: Any, body: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.url + WEBHOOK, content=body.encode(), headers=headers)


def event_rows(server: Any) -> list[tuple[str, str]]:
    with sqlite3.connect(server.app.state.settings.sqlite_path) as conn:
        return conn.execute("SELECT event_type, provider_call_id FROM call_events").fetchall()


@pytest.fixture
def server(serve, make_settings):
    return serve(make_settings())


def test_signed_call_ended_creates_the_call_with_retells_data(server):
    body = json.dumps({"event": "call_ended", "call": retell_call_object()})
    response = post(server, body, signed(body))
    assert response.status_code == 200, response.text
    assert response.json()["duplicate"] is False
    call = server.store.get_call("call_abc123", Provider.RETELL)
    assert call.status == CallStatus.ENDED
    assert call.driver_name == "Ana Ruiz" and call.load_number == "LD-77"
    assert call.started_at.timestamp() == START_MS / 1000
    assert call.duration_secs == 95.5
    assert call.disconnection_reason == "agent_hangup"
    assert call.recording_url == "https://example.invalid/rec.wav"
    assert call.latency["e2e_p50_ms"] == 812.0 and call.latency["llm_p50_ms"] == 300
    assert call.cost == 12.5
    assert call.transcript == [
        {"role": "agent", "content": "Hi Ana, checking on LD-77."},
        {"role": "user", "content": "Driving, near Reno."},
    ]
    assert event_rows(server) == [("call_ended", "call_abc123")]


def test_call_analyzed_adds_retells_analysis(server):
    analysis = {
        "call_summary": "Driver near Reno.",
        "user_sentiment": "Positive",
        "call_successful": True,
    }
    call = retell_call_object(call_analysis=analysis)
    body = json.dumps({"event": "call_analyzed", "call": call})
    assert post(server, body, signed(body)).status_code == 200
    assert server.store.get_call("call_abc123").call_analysis == analysis


def test_the_transcript_from_our_socket_is_kept(server):
    ours = [
        {"role": "agent", "content": "Hi Ana."},
        {"role": "user", "content": "Hi."},
        {"role": "agent", "content": "Where are you?"},
    ]
    server.store.upsert_call(Provider.RETELL, "call_abc123", CallUpdate(transcript=ours))
    body = json.dumps({"event": "call_ended", "call": retell_call_object()})
    assert post(server, body, signed(body)).status_code == 200
    assert server.store.get_call("call_abc123").transcript == ours


def test_the_same_delivery_twice_is_one_event_and_changes_nothing(server):
    body = json.dumps({"event": "call_ended", "call": retell_call_object()})
    assert post(server, body, signed(body)).json()["duplicate"] is False
    before = server.store.get_call("call_abc123").model_dump(exclude={"updated_at"})
    again = post(server, body, signed(body))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert server.store.get_call("call_abc123").model_dump(exclude={"updated_at"}) == before
    assert len(event_rows(server)) == 1


def test_unknown_events_are_acknowledged_and_stored_only_as_events(server):
    body = json.dumps({"event": "transfer_started", "call": retell_call_object("call_xfer")})
    response = post(server, body, signed(body))
    assert response.status_code == 200
    assert event_rows(server) == [("transfer_started", "call_xfer")]
    assert server.store.get_call("call_xfer") is None


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"x-retell-signature": "v=1,d=abc"}, id="garbage"),
        pytest.param("wrong-key", id="forged"),
        pytest.param("expired", id="expired"),
        pytest.param("other-body", id="signature-of-another-body"),
    ],
)
def test_bad_signatures_are_refused_and_nothing_is_written(server, headers):
    body = json.dumps({"event": "call_ended", "call": retell_call_object()})
    if headers == "wrong-key":
        headers = signed(body, key="key_someone_else")
    elif headers == "expired":
        headers = signed(body, timestamp=int(time.time() * 1000) - 6 * 60 * 1000)
    elif headers == "other-body":
        headers = signed(body.replace("Ana", "Bob"))
    response = post(server, body, headers)
    assert response.status_code == 401
    assert server.store.get_call("call_abc123") is None
    assert event_rows(server) == []


def test_without_retell_api_key_webhooks_are_unavailable(serve, make_settings):
    server = serve(make_settings(retell_api_key=None))
    body = json.dumps({"event": "call_ended", "call": retell_call_object()})
    response = post(server, body, signed(body))
    assert response.status_code == 503
    assert "RETELL_API_KEY" in response.json()["detail"]


def test_a_signed_body_without_a_call_id_is_a_field_error(server):
    body = json.dumps({"event": "call_ended", "call": {"agent_id": "a"}})
    response = post(server, body, signed(body))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "call", "call_id"]
    assert event_rows(server) == []


def test_bodies_over_the_limit_are_refused(server):
    body = json.dumps({"event": "call_ended", "call": retell_call_object(padding="x" * 1_100_000)})
    response = post(server, body, signed(body))
    assert response.status_code == 413
    assert event_rows(server) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"event": "call_ended", "call": {"call_id": 12345}},
        {"event": "call_ended", "call": {"call_id": "c1", "start_timestamp": 10**20}},
        {"event": "call_ended", "call": {"call_id": "c1", "duration_ms": -5}},
        {"event": "call_ended", "call": {"call_id": "c1", "latency": "fast"}},
        {"event": "call_ended", "call": "c1"},
        {"event": "", "call": {"call_id": "c1"}},
        [1, 2, 3],
        "just a string",
    ],
)
def test_signed_but_malformed_webhooks_are_field_errors_and_write_nothing(server, payload):
    body = json.dumps(payload)
    response = post(server, body, signed(body))
    assert response.status_code == 422, response.text
    assert event_rows(server) == [] and server.store.get_call("c1") is None


def test_signed_oddities_that_are_still_valid_are_stored(server):
    call = retell_call_object("c2", latency={"e2e": "n/a"}, call_cost={"combined_cost": "free"})
    body = json.dumps({"event": "call_ended", "call": call})
    assert post(server, body, signed(body)).status_code == 200
    saved = server.store.get_call("c2")
    assert saved.latency is None and saved.cost is None


def test_an_end_before_the_start_leaves_the_duration_unknown_not_negative(server):
    call = retell_call_object("call_clock_skew", end_timestamp=START_MS - 5_000)
    del call["duration_ms"]
    body = json.dumps({"event": "call_ended", "call": call})

    assert post(server, body, signed(body)).status_code == 200

    saved = server.store.get_call("call_clock_skew")
    assert saved.status == CallStatus.ENDED and saved.duration_secs is None
