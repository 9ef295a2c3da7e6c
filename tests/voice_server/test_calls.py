"""Call control against retell-sdk pointed at a local double of Retell's API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from db.models import CallFilters, CallStatus, Provider
from tests.voice_server.conftest import API_KEY, RETELL_KEY, auth
from tests.voice_server.retell_api_double import RetellApiDouble

START = "/api/v1/calls/start"
AGENT_ID = "agent_custom_llm_1"
FROM_NUMBER = "+15550009999"


@pytest.fixture
def retell_api() -> Iterator[RetellApiDouble]:
    double = RetellApiDouble().start()
    yield double
    double.stop()


@pytest.fixture
def server(serve, make_settings, retell_api):
    return serve(
        make_settings(
            retell_base_url=retell_api.url,
            retell_agent_id=AGENT_ID,
            retell_from_number=FROM_NUMBER,
        )
    )


def body(**changes: Any) -> dict[str, Any]:
    values = {
        "vendor": "retell",
        "mode": "web",
        "driver_name": "Sam Okafor",
        "driver_phone": "+14155550123",
        "load_number": "LD-2024",
        "origin": "Dallas, TX",
        "destination": "Denver, CO",
        "appointment": "2026-11-26 08:00",
    }
    values.update(changes)
    return values


def retell_calls(server: Any) -> list[Any]:
    return server.store.search_calls(CallFilters(provider=Provider.RETELL), page_size=50).items


def test_web_call_goes_to_retell_and_the_row_is_keyed_by_retells_call_id(server, retell_api):
    response = httpx.post(server.url + START, json=body(), headers=auth())
    assert response.status_code == 201, response.text
    started = response.json()
    assert started["provider"] == "retell"
    assert started["access_token"] == retell_api.calls[started["provider_call_id"]]["access_token"]

    [sent] = retell_api.requests
    assert sent.path == "/v3/create-web-call"
    assert sent.headers["authorization"] == f"Bearer {RETELL_KEY}"
    assert sent.body["agent_id"] == AGENT_ID
    variables = dict(sent.body["retell_llm_dynamic_variables"])
    assert datetime.fromisoformat(variables.pop("local_time")).tzinfo is not None
    assert variables == {
        "driver_name": "Sam Okafor",
        "load_number": "LD-2024",
        "origin": "Dallas, TX",
        "destination": "Denver, CO",
        "appointment": "2026-11-26 08:00",
    }
    assert sent.body["metadata"]["driver_phone"] == "+14155550123"

    call = server.store.get_call(started["provider_call_id"], Provider.RETELL)
    assert call.status == CallStatus.REGISTERED
    assert call.driver_name == "Sam Okafor" and call.load_number == "LD-2024"
    assert call.call_type == "web_call"


def test_phone_call_dials_the_driver_from_the_retell_number(server, retell_api):
    response = httpx.post(server.url + START, json=body(mode="phone"), headers=auth())
    assert response.status_code == 201, response.text
    [sent] = retell_api.requests
    assert sent.path == "/v2/create-phone-call"
    assert sent.body["from_number"] == FROM_NUMBER
    assert sent.body["to_number"] == "+14155550123"
    assert sent.body["override_agent_id"] == AGENT_ID
    call = server.store.get_call(response.json()["provider_call_id"])
    assert call.call_type == "phone_call" and call.to_number == "+14155550123"


@pytest.mark.parametrize(
    ("retell_status", "our_status"), [(401, 502), (422, 422), (400, 422), (500, 502), (429, 429)]
)
def test_provider_errors_become_clear_answers_and_an_error_row(
    server, retell_api, retell_status, our_status
):
    retell_api.fail_with = (retell_status, "Number is not valid")
    response = httpx.post(server.url + START, json=body(), headers=auth())
    assert response.status_code == our_status
    assert "Retell" in response.json()["detail"]
    [row] = retell_calls(server)
    assert row.status == CallStatus.ERROR and "Retell" in row.error
    assert row.driver_name == "Sam Okafor"


@pytest.mark.parametrize("typed", ["(415) 555-0123", "415-555-0123", "+1 415 555 0123"])
def test_a_phone_call_takes_a_national_number_and_dials_and_stores_e164(server, retell_api, typed):
    response = httpx.post(server.url + START, json=body(mode="phone", driver_phone=typed),
                          headers=auth())  # fmt: skip
    assert response.status_code == 201, response.text
    [sent] = retell_api.requests
    assert sent.body["to_number"] == "+14155550123"
    call = server.store.get_call(response.json()["provider_call_id"])
    assert call.to_number == "+14155550123"
    assert server.store.ensure_driver("Sam Okafor", "+14155550123") == call.driver_id


def test_the_forms_placeholder_number_is_a_valid_example(server, retell_api):
    response = httpx.post(
        server.url + START, json=body(mode="phone", driver_phone="+15551234567"), headers=auth()
    )
    assert response.status_code == 201, response.text
    assert retell_api.requests[0].body["to_number"] == "+15551234567"


def test_web_calls_need_no_phone(server, retell_api):
    response = httpx.post(server.url + START, json=body(driver_phone=None), headers=auth())
    assert response.status_code == 201, response.text


def test_phone_numbers_must_be_e164(server, retell_api):
    response = httpx.post(server.url + START, json=body(driver_phone="555-0123"), headers=auth())
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "driver_phone"]
    assert "too few digits" in response.json()["detail"][0]["msg"]
    assert retell_api.requests == [] and retell_calls(server) == []


def test_a_phone_call_needs_the_drivers_phone(server, retell_api):
    response = httpx.post(
        server.url + START, json=body(mode="phone", driver_phone=None), headers=auth()
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "driver_phone"]
    assert retell_api.requests == []


def test_blank_fields_are_field_errors(server):
    response = httpx.post(server.url + START, json=body(load_number="  "), headers=auth())
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "load_number"]


@pytest.mark.parametrize(
    ("missing", "mode", "variable"),
    [
        ("retell_agent_id", "web", "RETELL_AGENT_ID"),
        ("retell_from_number", "phone", "RETELL_FROM_NUMBER"),
        ("retell_api_key", "web", "RETELL_API_KEY"),
    ],
)
def test_missing_provider_configuration_is_503_naming_the_variable(
    serve, make_settings, retell_api, missing, mode, variable
):
    values = {
        "retell_base_url": retell_api.url,
        "retell_agent_id": AGENT_ID,
        "retell_from_number": FROM_NUMBER,
        missing: None,
    }
    server = serve(make_settings(**values))
    response = httpx.post(server.url + START, json=body(mode=mode), headers=auth())
    assert response.status_code == 503
    assert variable in response.json()["detail"]
    assert retell_api.requests == []


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {API_KEY}", API_KEY])
def test_starting_a_call_needs_the_dispatch_api_key(server, retell_api, header):
    headers = {"Authorization": header} if header else {}
    response = httpx.post(server.url + START, json=body(), headers=headers)
    assert response.status_code == 401
    assert retell_api.requests == []


def test_pipecat_calls_start_like_voice_start_and_an_unreachable_bot_is_502(serve, make_settings):
    from tests.conftest import free_port

    bot_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    server = serve(make_settings(pipecat_api_key="pipecat-key-123", bot_url=bot_url))
    response = httpx.post(server.url + START, json=body(vendor="pipecat"), headers=auth())
    assert response.status_code == 502
    assert "BOT_URL" in response.json()["detail"]
    [row] = server.store.search_calls(CallFilters(provider=Provider.PIPECAT)).items
    assert row.status == CallStatus.ERROR and row.load_number == "LD-2024"


def test_pipecat_without_its_key_is_503_naming_it(serve, make_settings):
    server = serve(make_settings())
    response = httpx.post(server.url + START, json=body(vendor="pipecat"), headers=auth())
    assert response.status_code == 503
    assert "PIPECAT_API_KEY" in response.json()["detail"]


def test_the_providers_view_of_a_started_call(server, retell_api):
    started = httpx.post(server.url + START, json=body(), headers=auth()).json()
    call_id = started["provider_call_id"]
    view = httpx.get(server.url + f"/api/v1/calls/{call_id}/provider", headers=auth())
    assert view.status_code == 200
    assert view.json()["call_id"] == call_id and view.json()["call_status"] == "registered"
    assert retell_api.requests[-1].path == f"/v2/get-call/{call_id}"
    missing = httpx.get(server.url + "/api/v1/calls/call_nope/provider", headers=auth())
    assert missing.status_code == 404
