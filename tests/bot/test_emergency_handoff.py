"""Emergencies through the Pipecat pipeline: with a Twilio line the agent transfers after the
essentials; a transfer Twilio refuses, or no line at all, ends in a callback, never a promise;
the session's alert reaches the voice server once, and its webhook is delivered once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from bot.call_control import TwilioTransfer
from tests.bot.conftest import PIPECAT_KEY, TRANSFER_NUMBER, BotCall
from tests.conftest import eventually
from tests.voice_server.alert_receiver import ALERT_SECRET, AlertReceiver
from tests.voice_server.conftest import RunningServer

DIAL_STATUS_URL = "https://voice.example.com/api/v1/twilio/dial-status/pc_transfer"
CRASH = (
    "Hold on, I just had an accident, a car hit my trailer.",
    "Yes I'm safe on the shoulder.",
    "Nobody is hurt.",
    "I-35 southbound at mile marker 331 near Waco.",
    "Yes the load is secure.",
)


def twilio(status: int, requests: list[httpx.Request]) -> TwilioTransfer:
    """Twilio's Calls API answering `status` to the call update that redirects the call."""

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if status >= 300:
            return httpx.Response(status, json={"code": 21220, "message": "Call is not active"})
        return httpx.Response(status, json={"sid": "CA123", "status": "in-progress"})

    return TwilioTransfer(
        account_sid="AC1",
        auth_token="secret",
        call_sid="CA123",
        transport=httpx.MockTransport(answer),
        dial_status_url=DIAL_STATUS_URL,
    )


async def report_emergency(call: BotCall, answers: tuple[str, ...] = CRASH) -> None:
    await call.answer()
    for answer in answers:
        if call.session.agent._ending:
            break
        await call.driver_says(answer)


async def emergency_on_a_twilio_line(
    make_call: Callable[..., BotCall], call_id: str, status: int
) -> tuple[BotCall, list[httpx.Request]]:
    """The driver reports the crash on a phone line whose transfer Twilio answers `status` to;
    the call and the requests Twilio got."""
    requests: list[httpx.Request] = []
    call = make_call(call_id, call_control=twilio(status, requests))
    await report_emergency(call)
    return call, requests


def agent_lines(summary: dict[str, Any]) -> list[str]:
    return [t["content"] for t in summary["transcript"] if t["role"] == "agent"]


async def test_with_a_twilio_line_the_agent_transfers_after_the_essentials(
    make_call: Callable[..., BotCall],
) -> None:
    call, requests = await emergency_on_a_twilio_line(make_call, "pc_transfer", 200)
    # The transfer goes out once the hand-off line has been spoken.
    [request] = await eventually(lambda: requests)
    form = dict(httpx.QueryParams(request.content.decode()))
    # Twilio will post the dial's outcome (did a dispatcher pick up?) to the voice server.
    assert form["Twiml"] == (
        f'<Response><Dial action="{DIAL_STATUS_URL}" method="POST">{TRANSFER_NUMBER}</Dial>'
        "</Response>"
    )
    await call.hang_up()  # Twilio took the call to the dispatcher: the media stream closes
    await call.wait_finished()

    summary = call.summary_event()["data"]
    structured = summary["structured"]
    assert structured["call_outcome"] == "Emergency Escalation"
    assert structured["load_secure"] is True and "331" in structured["emergency_location"]
    # Twilio's 2xx hands the call to the dial; it does not say a dispatcher picked up (its
    # <Dial action> callback does: tests/voice_server/test_twilio_dial.py).
    assert structured["escalation_status"] == "Transfer Requested"
    assert "connecting you to a human dispatcher" in agent_lines(summary)[-1]


async def test_a_transfer_twilio_refuses_falls_back_to_a_callback_and_ends(
    make_call: Callable[..., BotCall],
) -> None:
    call, requests = await emergency_on_a_twilio_line(make_call, "pc_refused", 400)
    await eventually(lambda: requests)
    # The agent tells the driver instead of leaving them on a dead line: the greeting, one reply
    # per answer (the last one the hand-off), then the fallback.
    await call.wait_for_replies(1 + len(CRASH) + 1)
    await call.bot_speaks()
    await call.driver_says("My number is 254 555 0134.")
    await call.wait_finished()

    summary = call.summary_event()["data"]
    lines = agent_lines(summary)
    fallback = next(line for line in lines if "couldn't get a dispatcher" in line)
    assert "alerted the dispatch office" in fallback and "call you back on" in fallback
    assert "254 555 0134" in lines[-1] and summary["end_reason"] == "end"
    assert summary["structured"]["escalation_status"] == "Transfer Failed"
    assert len(requests) == 1


async def test_the_sessions_alert_reaches_the_voice_server_once_and_its_webhook_once(
    start_server: Callable[..., RunningServer], make_call: Callable[..., BotCall]
) -> None:
    receiver = AlertReceiver()
    hook = RunningServer(receiver.app()).start()
    try:
        server = start_server(
            dispatch_alert_webhook_url=f"{hook.url}/hooks/emergency",
            dispatch_alert_webhook_secret=ALERT_SECRET,
        )
        context = {
            "driver_name": "Maria Lopez",
            "load_number": "7731",
            "driver_phone": "+12545550134",
        }
        call = make_call("pc_alert", voice_server_url=server.url, context=context)
        await report_emergency(call)  # a WebRTC session: no line, the office calls back
        await call.wait_finished()
        assert call.spooled() == []

        [alert] = server.store.open_emergency_alerts().items
        assert (alert.provider_call_id, alert.driver_name, alert.emergency_type) == (
            "pc_alert",
            "Maria Lopez",
            "Accident",
        )
        assert alert.escalation_status == "Callback Requested"
        await eventually(lambda: receiver.received)
        # The bot's spool resends the summary (a lost answer): still one alert, one webhook.
        resent = httpx.post(
            f"{server.url}/api/v1/pipecat/event",
            json=call.session.observer.summary_event,
            headers={"Authorization": f"Bearer {PIPECAT_KEY}"},
        )
        assert resent.status_code == 200 and resent.json()["duplicate"] is True
        assert server.store.open_emergency_alerts().total == 1
        await eventually(lambda: server.app.state.alerts.webhooks.depth == 0)
        assert receiver.deliveries == ["emergency:pipecat:pc_alert"]
        [payload] = receiver.received
        assert payload["driver_phone"] == "+12545550134" and payload["load_number"] == "7731"
    finally:
        hook.stop()
