"""Twilio's answer on a Pipecat transfer (the `<Dial action>` callback), signed as Twilio signs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from db.models import CallUpdate, Provider
from tests.voice_server.conftest import RunningServer

AUTH_TOKEN = "twilio-auth-token-0123456789"
PUBLIC_URL = "https://voice.example.com"


@pytest.fixture
def server(serve: Callable[..., RunningServer], make_settings: Callable[..., Any]):
    server = serve(
        make_settings(
            twilio_account_sid="AC1",
            twilio_auth_token=AUTH_TOKEN,
            voice_server_public_url=PUBLIC_URL,
        )
    )
    structured = {"call_outcome": "Emergency Escalation", "escalation_status": "Transfer Requested"}
    server.store.upsert_call(Provider.PIPECAT, "pc_dial", CallUpdate(structured=structured))
    return server


def post_status(server: RunningServer, status: str, *, token: str = AUTH_TOKEN) -> httpx.Response:
    path = "/api/v1/twilio/dial-status/pc_dial"
    params = {"CallSid": "CA123", "DialCallStatus": status, "DialCallDuration": "42"}
    signature = RequestValidator(token).compute_signature(PUBLIC_URL + path, params)
    return httpx.post(server.url + path, data=params, headers={"X-Twilio-Signature": signature})


def escalation(server: RunningServer) -> str:
    return server.store.get_call("pc_dial", Provider.PIPECAT).structured["escalation_status"]


def test_a_dispatcher_who_picked_up_makes_the_transfer_connected(server) -> None:
    response = post_status(server, "completed")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Say>" not in response.text
    assert escalation(server) == "Transfer Connected"


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "canceled"])
def test_nobody_answering_is_a_failed_transfer_and_the_driver_hears_so(server, status) -> None:
    response = post_status(server, status)
    assert response.status_code == 200
    assert "<Say>" in response.text and "call you back" in response.text
    assert escalation(server) == "Transfer Failed"


def test_a_forged_or_unsigned_callback_changes_nothing(server) -> None:
    assert post_status(server, "completed", token="not-the-token").status_code == 403
    unsigned = httpx.post(
        server.url + "/api/v1/twilio/dial-status/pc_dial", data={"DialCallStatus": "completed"}
    )
    assert unsigned.status_code == 403
    assert escalation(server) == "Transfer Requested"


def test_without_twilio_settings_the_callback_is_refused(
    serve: Callable[..., RunningServer], make_settings: Callable[..., Any]
) -> None:
    server = serve(make_settings())
    response = httpx.post(
        server.url + "/api/v1/twilio/dial-status/pc_dial", data={"DialCallStatus": "completed"}
    )
    assert response.status_code == 404 and "TWILIO_AUTH_TOKEN" in response.json()["detail"]
