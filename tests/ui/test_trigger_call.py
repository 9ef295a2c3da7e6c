"""Trigger call page through AppTest, against a real voice server on uvicorn (same database):
form checks, missing provider keys, an unreachable server, and a whole simulated call."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from streamlit.testing.v1 import AppTest

from bench.served_app import ServedApp
from db import Store
from db.models import CallStatus, Provider
from settings import get_settings, load_settings
from tests.conftest import free_port
from tests.ui.conftest import APP
from tests.voice_server.retell_api_double import RetellApiDouble

API_KEY = "test-dispatch-key"
TRANSFER_NUMBER = "+15025550199"


@contextmanager
def running_voice_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real voice server app on a free port; the Streamlit side is pointed at it."""
    from voice_server.main import create_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("VOICE_SERVER_URL", url)
    monkeypatch.setenv("DISPATCH_API_KEY", API_KEY)
    monkeypatch.setenv("DISPATCH_TRANSFER_NUMBER", TRANSFER_NUMBER)
    get_settings.cache_clear()
    server = ServedApp(create_app(load_settings()), port, "the voice server").start(timeout=20)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def voice_server(monkeypatch: pytest.MonkeyPatch, store: Store) -> Iterator[str]:
    with running_voice_server(monkeypatch) as url:
        yield url


@pytest.fixture
def retell_api(monkeypatch: pytest.MonkeyPatch, store: Store) -> Iterator[RetellApiDouble]:
    """A local double of Retell's API (retell-sdk pointed at it), behind a real voice server."""
    double = RetellApiDouble().start()
    monkeypatch.setenv("RETELL_API_KEY", "key_test_retell")
    monkeypatch.setenv("RETELL_AGENT_ID", "agent_test_dispatch")
    monkeypatch.setenv("RETELL_BASE_URL", double.url)
    try:
        with running_voice_server(monkeypatch):
            yield double
    finally:
        double.stop()


def open_trigger_page() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("pages/trigger_call.py").run()
    assert not app.exception
    return app


def submit(app: AppTest, engine: str, **fields: str) -> AppTest:
    app.radio(key="engine").set_value(engine)
    for key, value in fields.items():
        app.text_input(key=key).input(value)
    app.button(key="start_call").click().run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_a_phone_number_that_is_not_e164_is_refused_before_anything_is_sent(store: Store) -> None:
    app = submit(open_trigger_page(), "Retell phone call", driver_phone="555-1234")
    assert any("Driver phone" in e.value for e in app.error)
    assert store.search_calls(store_filters()).total == 0


FORM = {
    "driver_name": "Mike Johnson", "load_number": "7891-B", "origin": "Phoenix, AZ",
    "destination": "Los Angeles, CA", "appointment": "",
}  # fmt: skip


@pytest.mark.parametrize("typed", ["+15551234567", "(415) 555-2671", "415-555-2671"])
def test_the_placeholder_and_national_numbers_pass_the_forms_checks(typed: str) -> None:
    from ui.call_form import CallForm, form_errors

    form = CallForm(engine="Retell phone call", driver_phone=typed, **FORM)
    assert form_errors(form) == []
    assert form.start_request().driver_phone in {"+15551234567", "+14155552671"}


@pytest.mark.parametrize("engine", ["Simulated call", "Retell web call", "Pipecat session"])
def test_only_a_dialled_call_needs_a_phone(engine: str) -> None:
    from ui.call_form import CallForm, form_errors

    assert form_errors(CallForm(engine=engine, driver_phone="", **FORM)) == []
    assert form_errors(CallForm(engine="Retell phone call", driver_phone="", **FORM)) != []


def test_a_wrong_number_is_explained_in_plain_words(store: Store) -> None:
    app = submit(open_trigger_page(), "Retell web call", driver_phone="555-1234")
    [error] = app.error
    assert "too few digits" in error.value and "default region" not in error.value


def test_a_phone_call_needs_a_phone_number(store: Store) -> None:
    app = submit(open_trigger_page(), "Retell phone call", driver_phone="")
    assert any("needs the driver's number" in e.value for e in app.error)


def store_filters():  # noqa: ANN201
    from db.models import CallFilters

    return CallFilters()


def test_without_retell_keys_the_page_names_the_variable_to_set(voice_server: str) -> None:
    app = submit(open_trigger_page(), "Retell web call")
    assert len(app.error) == 1
    assert "RETELL_API_KEY" in app.error[0].value


def test_a_retell_web_call_hands_the_access_token_to_the_call_widget(
    retell_api: RetellApiDouble,
) -> None:
    app = submit(open_trigger_page(), "Retell web call", driver_name="Ana Silva")
    assert not app.error, [e.value for e in app.error]
    (request,) = retell_api.requests
    assert request.body["agent_id"] == "agent_test_dispatch"
    assert request.body["retell_llm_dynamic_variables"]["driver_name"] == "Ana Silva"
    call_ids = [c.provider_call_id for c in retell_api_calls()]
    (token,) = [c["access_token"] for c in retell_api.calls.values()]
    (widget,) = app.get("component_instance")
    args = json.loads(widget.proto.json_args)
    assert args["engine"] == "retell" and args["autostart"] is True
    assert args["access_token"] == token
    assert args["call_id"] == call_ids[0]
    assert call_ids[0] in " ".join(m.value for m in app.markdown)


def retell_api_calls():  # noqa: ANN201
    from db import open_store

    store = open_store(get_settings())
    try:
        return store.search_calls(store_filters()).items
    finally:
        store.close()


def test_a_pipecat_session_without_a_running_bot_is_an_error_message(voice_server: str) -> None:
    app = submit(open_trigger_page(), "Pipecat session")
    assert len(app.error) == 1
    message = app.error[0].value
    assert "BOT_URL" in message or "PIPECAT_API_KEY" in message, message


def test_an_unreachable_voice_server_is_an_error_message(monkeypatch) -> None:
    monkeypatch.setenv("VOICE_SERVER_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("DISPATCH_API_KEY", API_KEY)
    get_settings.cache_clear()
    for engine in ("Pipecat session", "Simulated call"):
        app = submit(open_trigger_page(), engine)
        assert len(app.error) == 1, engine
        assert "not reachable" in app.error[0].value


def chat(app: AppTest) -> list[tuple[str, str]]:
    return [(m.name, m.markdown[0].value) for m in app.chat_message]


def test_a_simulated_call_runs_through_the_real_agent_and_is_saved(
    voice_server: str, store: Store
) -> None:
    app = submit(open_trigger_page(), "Simulated call", driver_name="Mike Johnson")
    assert not app.error
    (opening,) = chat(app)
    assert opening[0] == "assistant" and "Mike" in opening[1]

    driver_turns = [
        "I just had an accident, I hit the guardrail",
        "Nobody is hurt, everyone is safe",
        "I'm on I-10 at mile marker 42 near Indio",
        "Yes the load is secure",
        "Call me back on 602 555 0147",
    ]
    for turn in driver_turns:
        if not app.chat_input:
            break
        app.chat_input(key="driver_turn").set_value(turn).run()
        assert not app.error, [e.value for e in app.error]
    said = chat(app)
    assert ("user", driver_turns[0]) in said
    assert said[-1][0] == "assistant" and len(said) >= 4
    assert not app.chat_input, said
    # A simulated call has no phone line to transfer, whatever DISPATCH_TRANSFER_NUMBER says:
    # the agent never promises a human, the office is alerted and calls back.
    agent_lines = " ".join(text for role, text in said if role == "assistant")
    assert "connecting" not in agent_lines and "alerted the dispatch office" in agent_lines
    assert "602 555 0147" in said[-1][1]
    assert any("The agent ended the call" in i.value for i in app.info)

    result = dict(zip(app.table[0].value["Field"], app.table[0].value["Value"], strict=True))
    assert result["Outcome"] == "Emergency Escalation"
    assert result["Emergency type"] == "Accident"
    assert result["Escalation status"] == "Callback Requested"

    (call_id,) = [c.provider_call_id for c in store.search_calls(store_filters()).items]
    saved = store.get_call(call_id, Provider.RETELL)
    assert saved is not None and saved.status == CallStatus.ENDED
    assert saved.call_type == "simulated"
    assert saved.transcript[1] == {"role": "user", "content": driver_turns[0]}

    conversations = AppTest.from_file(APP, default_timeout=60)
    conversations.query_params["outcome"] = "Emergency Escalation"
    conversations.switch_page("pages/conversations.py").run()
    assert list(conversations.dataframe[0].value["Driver"]) == ["Mike Johnson"]


def test_hanging_up_a_simulated_call_keeps_what_was_said(voice_server: str, store: Store) -> None:
    app = submit(open_trigger_page(), "Simulated call", driver_name="Ana Silva")
    app.chat_input(key="driver_turn").set_value("Hi, I'm driving on I-40").run()
    app.button(key="hang_up").click().run()
    assert not app.chat_input
    assert any("You hung up" in i.value for i in app.info)
    (call,) = store.search_calls(store_filters()).items
    assert call.status == CallStatus.ENDED
    assert {"role": "user", "content": "Hi, I'm driving on I-40"} in call.transcript


def wait_until_ended(store: Store, timeout_secs: float = 30.0) -> list:  # noqa: ANN201
    """The calls in the store once one of them is `ended` (polls; fails after `timeout_secs`)."""
    deadline = time.monotonic() + timeout_secs
    while True:
        calls = store.search_calls(store_filters()).items
        if any(c.status == CallStatus.ENDED for c in calls):
            return calls
        assert time.monotonic() < deadline, [c.status for c in calls]
        time.sleep(0.1)


def test_an_abandoned_simulated_call_is_hung_up_after_the_idle_timeout_without_a_rerun(
    voice_server: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIMULATED_CALL_IDLE_SECS", "3")
    get_settings.cache_clear()
    app = submit(open_trigger_page(), "Simulated call", driver_name="Ana Silva")
    app.chat_input(key="driver_turn").set_value("Hi, I'm driving on I-40").run()
    assert not app.error, [e.value for e in app.error]
    assert ("user", "Hi, I'm driving on I-40") in chat(app)

    # The manager closed the tab: nothing reruns the page, yet the call ends and is saved.
    (call,) = wait_until_ended(store)
    assert call.call_type == "simulated"
    assert {"role": "user", "content": "Hi, I'm driving on I-40"} in call.transcript
    assert call.transcript[0]["role"] == "agent"

    app.run()  # the same session comes back
    assert not app.chat_input
    assert any(
        "This simulated call ended after 3 seconds without input" in i.value for i in app.info
    ), [i.value for i in app.info]
    assert ("user", "Hi, I'm driving on I-40") in chat(app)


def test_by_default_a_simulated_call_is_hung_up_after_ten_idle_minutes() -> None:
    from ui.simulated_call import idle_end_reason

    default = load_settings().simulated_call_idle_secs
    assert idle_end_reason(default) == ("This simulated call ended after 10 minutes without input.")


def test_a_simulated_call_found_idle_when_touched_is_hung_up_and_refuses_more_turns(
    voice_server: str, store: Store
) -> None:
    from protocols.start_call import StartCallRequest
    from ui.simulated_call import SimulatedCall, SimulatedCallError

    settings = load_settings().model_copy(update={"simulated_call_idle_secs": 3600.0})
    call = SimulatedCall.start(
        settings,
        StartCallRequest(
            driver_name="Ana Silva",
            load_number="7891-B",
            origin="Phoenix, AZ",
            destination="Los Angeles, CA",
        ),
    )
    call.say("Hi, I'm driving on I-40")
    assert not call.ended
    call.last_input_at -= 3600.0  # an hour of the driver's silence, long before the reaper looks

    with pytest.raises(SimulatedCallError, match="ended after 60 minutes without input"):
        call.say("Still there?")
    assert call.ended
    saved = call.saved_call(store)
    assert saved is not None and saved.status == CallStatus.ENDED
    assert {"role": "user", "content": "Hi, I'm driving on I-40"} in saved.transcript
    assert {"role": "user", "content": "Still there?"} not in saved.transcript


def test_a_simulated_call_carries_its_start_time_so_an_eta_is_judged_against_the_appointment(
    voice_server: str, store: Store
) -> None:
    from datetime import datetime

    from protocols.start_call import StartCallRequest
    from ui.simulated_call import SimulatedCall

    call = SimulatedCall.start(
        load_settings(),
        StartCallRequest(
            driver_name="Ana Silva",
            load_number="7891-B",
            origin="Phoenix, AZ",
            destination="Los Angeles, CA",
            # Dated, years ahead: in 2 hours is on time whenever the test runs.
            appointment="2030-01-02 8:00 AM PST",
        ),
    )
    variables = call.caller.caller.call_details["retell_llm_dynamic_variables"]
    started = datetime.fromisoformat(variables["local_time"])
    assert started.utcoffset().total_seconds() == -8 * 3600  # the appointment's zone
    call.say("Driving on I-10 near Tucson, should be there in 2 hours.")
    call.hang_up()
    saved = call.saved_call(store)
    assert saved is not None and saved.structured is not None
    assert saved.structured["on_time_status"] == "On Time"
