"""The hand-off of an emergency: what the agent decides once the essentials are in, and what it
says to a driver who keeps talking after it, with and without a transfer line."""

from __future__ import annotations

from agent import CallContext, EscalationStatus, Turn, extract_result, next_reply, reminder_reply
from agent.policy import reply_parts

LINE = "+15550100200"
WITH_LINE = CallContext(driver_name="Tom Becker", destination="Denver, CO", transfer_number=LINE)
NO_LINE = CallContext(driver_name="Tom Becker", destination="Denver, CO")
INJURED = "a car hit me on i 25, my arm is bleeding pretty bad"


def after(context: CallContext, *driver: str) -> list[Turn]:
    """The call so far: each driver line followed by the agent's actual reply."""
    transcript = [Turn("agent", "Hi Tom, this is Dispatch. Can you give me a status update?")]
    for said in driver:
        transcript.append(Turn("user", said))
        transcript.append(Turn("agent", next_reply(context, transcript).text))
    return transcript


def test_with_a_line_the_hand_off_transfers_and_alerts_the_office() -> None:
    reply = next_reply(WITH_LINE, [*after(WITH_LINE)[:1], Turn("user", INJURED)])
    assert reply.transfer_number == LINE and reply.alert_office and not reply.end_call
    assert "911" in reply.text and "connecting you" in reply.text
    [*_, last] = reply_parts(reply)
    assert last.transfer_number == LINE and last.alert_office


def test_with_a_line_a_driver_who_keeps_talking_is_answered_and_transferred_again() -> None:
    transcript = after(WITH_LINE, INJURED)
    transcript.append(Turn("user", "wait where am i delivering"))
    reply = next_reply(WITH_LINE, transcript)
    assert "Denver, CO" in reply.text and reply.transfer_number == LINE
    assert extract_result(WITH_LINE, transcript).escalation_status is (
        EscalationStatus.TRANSFER_REQUESTED
    )


def test_without_a_line_a_driver_who_keeps_talking_is_answered_and_the_call_ends_again() -> None:
    transcript = after(NO_LINE, INJURED, "607 555 0101")
    assert next_reply(NO_LINE, transcript[:-1]).end_call
    for said in ("hello? is anyone there?", "where am i delivering", "my passenger is hurt too"):
        transcript.append(Turn("user", said))
        reply = next_reply(NO_LINE, transcript)
        assert reply.end_call and reply.transfer_number is None and reply.alert_office
        assert "call you back" in reply.text and "connecting" not in reply.text
        transcript.append(Turn("agent", reply.text))
    assert "Denver, CO" in transcript[-3].content  # the question got its answer
    assert "911 first" in transcript[-1].content  # someone else hurt: 911 again
    assert extract_result(NO_LINE, transcript).escalation_status is (
        EscalationStatus.CALLBACK_REQUESTED
    )


def test_a_transfer_that_failed_is_told_to_the_driver_and_recorded() -> None:
    transcript = after(WITH_LINE, INJURED)  # the agent announced the transfer
    transcript.append(Turn("user", "hello?"))
    reply = next_reply(NO_LINE, transcript)  # the edge learned the line failed
    assert reply.transfer_number is None and reply.alert_office
    assert "couldn't get a dispatcher" in reply.text and "alerted the dispatch office" in reply.text
    transcript.append(Turn("agent", reply.text))
    assert extract_result(NO_LINE, transcript).escalation_status is (
        EscalationStatus.TRANSFER_FAILED
    )


def test_silence_in_an_emergency_without_a_line_ends_with_the_callback_not_a_transfer() -> None:
    transcript = after(NO_LINE, "my truck broke down on i 40")
    reply = reminder_reply(NO_LINE, transcript, 3)
    assert reply.end_call and reply.alert_office and reply.transfer_number is None
    assert "call you back" in reply.text and "911" in reply.text
    with_line = reminder_reply(WITH_LINE, after(WITH_LINE, "my truck broke down on i 40"), 3)
    assert with_line.transfer_number == LINE and with_line.alert_office
