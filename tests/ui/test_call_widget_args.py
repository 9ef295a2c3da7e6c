"""What the call widget is given for each kind of call the voice server starts, and how its
report back is read."""

from __future__ import annotations

from protocols.start_call import StartedCall
from ui.call_widget import WidgetCall, WidgetOutcome


def pipecat_session(call_id: str, join_url: str, transport: str) -> StartedCall:
    """A registered Pipecat session as the voice server reports it (its token: tok_123)."""
    return StartedCall(
        provider="pipecat",
        provider_call_id=call_id,
        status="registered",
        join_url=join_url,
        details={"transport": transport, "session": "tok_123"},
    )


def test_a_pipecat_web_session_is_joined_through_the_bots_start_endpoint() -> None:
    started = pipecat_session("pc_1", "http://10.0.0.5:7860/client/?session=tok_123", "webrtc")
    assert WidgetCall.of(started) == WidgetCall(
        "pipecat", "pc_1", start_url="http://10.0.0.5:7860/start", session="tok_123"
    )


def test_a_retell_web_call_gets_its_access_token_and_phone_calls_no_widget() -> None:
    web = StartedCall(
        provider="retell", provider_call_id="call_1", status="registered", access_token="eyJ.x"
    )
    assert WidgetCall.of(web) == WidgetCall("retell", "call_1", access_token="eyJ.x")
    phone = StartedCall(provider="retell", provider_call_id="call_2", status="registered")
    twilio = pipecat_session("pc_2", "ws://bot/ws", "twilio")
    assert WidgetCall.of(phone) is None and WidgetCall.of(twilio) is None


def test_only_the_end_of_this_call_counts_as_its_outcome() -> None:
    report = {
        "call_id": "pc_1",
        "state": "ended",
        "reason": "You hung up.",
        "duration_secs": 42.5,
        "transcript": [{"role": "agent", "content": "Hi"}, "junk"],
    }
    outcome = WidgetOutcome.parse(report, "pc_1")
    assert outcome is not None and outcome.duration_secs == 42.5
    assert outcome.transcript == [{"role": "agent", "content": "Hi"}]
    assert WidgetOutcome.parse(report, "pc_other") is None  # an earlier call's report
    assert WidgetOutcome.parse(None, "pc_1") is None
    assert WidgetOutcome.parse({**report, "state": "connected"}, "pc_1") is None
