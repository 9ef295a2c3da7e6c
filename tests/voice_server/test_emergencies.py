"""Emergencies over Retell's protocol, with the real agent: what the driver hears, what is saved,
what the office sees (the alert, once) and the alert webhook (once, also across a restart).

The tests play Retell on the custom-LLM WebSocket (protocols.retell.caller) and send Retell's
signed transfer webhooks; the alert webhook goes to a local receiver that checks signatures.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from db.models import Call, CallStatus, Provider
from protocols.retell.caller import (
    RetellCaller,
    llm_socket_url,
    new_simulated_call_id,
    simulated_call_details,
)
from tests.conftest import eventually
from tests.voice_server.alert_receiver import ALERT_SECRET, AlertReceiver
from tests.voice_server.conftest import TRANSFER_NUMBER, RunningServer, signed

DRIVER_PHONE = "+15557654321"


@pytest.fixture
def receiver() -> AlertReceiver:
    return AlertReceiver()


@pytest.fixture
def receiver_url(receiver: AlertReceiver) -> Any:
    server = RunningServer(receiver.app()).start()
    yield f"{server.url}/hooks/emergency"
    server.stop()


@pytest.fixture
def settings_with_alerts(make_settings: Callable[..., Any], receiver_url: str):
    def make(**overrides: Any) -> Any:
        values = {
            "dispatch_alert_webhook_url": receiver_url,
            "dispatch_alert_webhook_secret": ALERT_SECRET,
        }
        return make_settings(**(values | overrides))

    return make


@pytest.fixture
def serve_alerting(
    serve: Callable[..., RunningServer], settings_with_alerts: Callable[..., Any]
) -> Callable[..., RunningServer]:
    """`serve_alerting(**settings)`: a server whose emergency alerts go to the receiver."""
    return lambda **overrides: serve(settings_with_alerts(**overrides))


def caller(server: RunningServer, call_id: str, **details: Any) -> RetellCaller:
    details.setdefault("driver_name", "Maria Lopez")
    details.setdefault("load_number", "LD-1001")
    return RetellCaller(
        llm_socket_url(server.url, call_id),
        call_details=simulated_call_details(call_id, **details),
        ping_interval=None,
        reply_timeout=10,
    )


async def saved(server: RunningServer, call_id: str, condition: Callable[[Call], bool]) -> Call:
    def check() -> Call | None:
        call = server.store.get_call(call_id, Provider.RETELL)
        return call if call is not None and condition(call) else None

    return await eventually(check)


def ended(call: Call) -> bool:
    return call.status == CallStatus.ENDED and call.structured is not None


def escalation(call: Call) -> str | None:
    return (call.structured or {}).get("escalation_status")


def transfer_webhook(call_id: str, event: str) -> str:
    return json.dumps(
        {
            "event": event,
            "call": {"call_id": call_id, "call_type": "phone_call", "call_status": "ongoing"},
            "transfer_destination": {"number": TRANSFER_NUMBER},
        }
    )


def post_webhook(server: RunningServer, body: str) -> None:
    response = httpx.post(f"{server.url}/api/v1/retell/webhook", content=body, headers=signed(body))
    assert response.status_code == 200, response.text


def open_alerts(server: RunningServer) -> list[Any]:
    return server.store.open_emergency_alerts().items


async def test_a_crash_without_a_transfer_line_ends_with_a_callback_and_one_alert(
    serve_alerting: Callable[..., RunningServer], receiver: AlertReceiver
) -> None:
    server = serve_alerting(dispatch_transfer_number=None)
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_type="phone_call", driver_phone=DRIVER_PHONE) as call:
        reply = await call.say(
            "I just got in a wreck on I-25, a car hit me, my arm is bleeding pretty bad"
        )
        assert reply.end_call and reply.transfer_number is None
        assert "911 first" in reply.text and "alerted the dispatch office" in reply.text
        assert "555 765 4321" in reply.text
        assert "connecting" not in reply.text.lower()
        # Ended and saved with its result while Retell is still speaking the goodbye.
        row = await saved(server, call_id, ended)
    assert row.call_outcome == "Emergency Escalation"
    assert escalation(row) == "Callback Requested"

    [alert] = await eventually(lambda: open_alerts(server))  # raised right after the write
    assert (alert.provider_call_id, alert.driver_name, alert.load_number) == (
        call_id,
        "Maria Lopez",
        "LD-1001",
    )
    assert alert.emergency_type == "Accident" and "bleeding" in (alert.injury_status or "")
    await eventually(lambda: receiver.received)
    [payload] = receiver.received
    assert payload["provider_call_id"] == call_id and payload["emergency_type"] == "Accident"
    assert payload["driver_phone"] == DRIVER_PHONE and payload["load_number"] == "LD-1001"
    assert receiver.refused == 0


def test_a_missing_transfer_line_is_logged_at_start_and_reported_by_healthz(
    serve: Callable[..., RunningServer], make_settings: Callable[..., Any], caplog
) -> None:
    server = serve(make_settings(dispatch_transfer_number=None))
    assert any("DISPATCH_TRANSFER_NUMBER is not set" in r.message for r in caplog.records)
    assert httpx.get(f"{server.url}/healthz").json()["transfer_line"] == "missing"


async def test_a_medical_emergency_asks_for_a_callback_number_when_none_is_known(
    serve: Callable[..., RunningServer], make_settings: Callable[..., Any]
) -> None:
    server = serve(make_settings())  # a transfer number, but a web call has no line to transfer
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_type="web_call") as call:
        reply = await call.say("I gotta pull over man, I'm having chest pains real bad")
        assert not reply.end_call and reply.transfer_number is None
        assert "911 first" in reply.text and "call you back on" in reply.text
        # The office is alerted as soon as the driver is told so, before the call ends.
        [alert] = await eventually(lambda: open_alerts(server))
        assert alert.emergency_type == "Medical"
        reply = await call.say("It's 720 555 0188")
        assert reply.end_call and "720 555 0188" in reply.text
        row = await saved(server, call_id, ended)
    assert escalation(row) == "Callback Requested"
    assert len(open_alerts(server)) == 1


async def test_a_breakdown_with_a_transfer_line_transfers_and_retell_confirms_it(
    serve_alerting: Callable[..., RunningServer], receiver: AlertReceiver
) -> None:
    server = serve_alerting()
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_type="phone_call", driver_phone=DRIVER_PHONE) as call:
        replies = []
        for said in (
            "I just had a blowout on the steer tire, I'm pulled over on the shoulder of I-70",
            "Nobody's hurt",
            "Mile marker 182 near Hays",
            "Yeah the load's fine",
        ):
            replies.append(await call.say(said))
        last = replies[-1]
        assert last.transfer_number == TRANSFER_NUMBER and "connecting you" in last.text
        assert all(r.transfer_number is None for r in replies[:-1])
        row = await saved(server, call_id, ended)
        assert escalation(row) == "Transfer Requested"
        # Retell reports the human picked up.
        post_webhook(server, transfer_webhook(call_id, "transfer_started"))
        post_webhook(server, transfer_webhook(call_id, "transfer_bridged"))
        await saved(server, call_id, lambda c: escalation(c) == "Transfer Connected")
    # The socket closing finalizes again with the agent's own view: connected stays.
    await asyncio.sleep(0.3)
    post_webhook(server, transfer_webhook(call_id, "transfer_ended"))
    row = await saved(server, call_id, ended)
    assert escalation(row) == "Transfer Connected"
    assert row.structured["load_secure"] is True
    await eventually(lambda: receiver.received)
    assert len(open_alerts(server)) == 1 and len(receiver.received) == 1


async def test_a_transfer_retell_does_not_bridge_falls_back_to_a_callback(
    serve: Callable[..., RunningServer], make_settings: Callable[..., Any]
) -> None:
    server = serve(make_settings())
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_type="phone_call", driver_phone=DRIVER_PHONE) as call:
        reply = await call.say("My truck's on fire, I got out, I'm on I-80 near Cheyenne")
        assert reply.transfer_number == TRANSFER_NUMBER
        post_webhook(server, transfer_webhook(call_id, "transfer_cancelled"))
        await saved(server, call_id, lambda c: escalation(c) == "Transfer Failed")
        # The dispatcher never answered; Retell hands the driver back to the agent.
        reply = await call.say("Hello? Is anyone there?")
        assert reply.transfer_number is None and reply.end_call
        assert "couldn't get a dispatcher" in reply.text
        assert "alerted the dispatch office" in reply.text and "911" in reply.text
        assert "connecting" not in reply.text.lower()
    row = await saved(server, call_id, lambda c: ended(c) and escalation(c) == "Transfer Failed")
    assert row.call_outcome == "Emergency Escalation"
    assert len(await eventually(lambda: open_alerts(server))) == 1


async def test_a_driver_who_keeps_talking_after_the_goodbye_is_answered_not_looped(
    serve_alerting: Callable[..., RunningServer], receiver: AlertReceiver
) -> None:
    server = serve_alerting(dispatch_transfer_number=None)
    call_id = new_simulated_call_id()
    async with caller(server, call_id, driver_phone=DRIVER_PHONE) as call:
        first = await call.say("I jackknifed on I-80 near Laramie, I'm hurt, my leg")
        assert first.end_call
        # The driver talked over the goodbye (Retell then drops end_call) and goes on.
        replies = [
            await call.say(said)
            for said in ("Hello? Is anyone there?", "Where am I delivering?", "ok", "ok")
        ]
    for reply in replies:
        assert reply.end_call and reply.transfer_number is None
        assert "call you back" in reply.text and "connecting" not in reply.text.lower()
    assert "Los Angeles" not in replies[1].text and replies[1].text != replies[0].text
    assert len({r.text for r in replies}) >= 2  # answered, not one line on repeat
    await eventually(lambda: receiver.received)
    assert len(open_alerts(server)) == 1
    assert len(receiver.received) == 1


async def test_the_alert_webhook_is_delivered_once_across_a_voice_server_restart(
    serve: Callable[..., RunningServer],
    settings_with_alerts: Callable[..., Any],
    receiver: AlertReceiver,
) -> None:
    settings = settings_with_alerts(dispatch_transfer_number=None)
    receiver.fail_next = 10_000  # the on-call tool is down
    first = serve(settings)
    call_id = new_simulated_call_id()
    async with caller(first, call_id, driver_phone=DRIVER_PHONE) as call:
        assert (await call.say("I hit a deer, nobody's hurt, I'm on the shoulder")).text
    # The driver hung up mid-protocol: still an emergency the office must call back.
    row = await saved(first, call_id, ended)
    assert row.call_outcome == "Emergency Escalation"
    webhooks = first.app.state.alerts.webhooks
    await eventually(lambda: webhooks.depth == 1 and receiver.fail_next < 10_000)
    first.stop()

    receiver.fail_next = 0
    second = serve(settings)
    await eventually(lambda: receiver.received)
    # Retell reconnects the same call to the new server; its end is saved again.
    async with caller(second, call_id, driver_phone=DRIVER_PHONE) as call:
        await call.say("ok")
    await saved(second, call_id, ended)
    second_webhooks = second.app.state.alerts.webhooks
    await eventually(lambda: second_webhooks.depth == 0)
    assert receiver.deliveries == [f"emergency:retell:{call_id}"]
    assert len(open_alerts(second)) == 1
