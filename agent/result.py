"""The structured result of a call so far, from the same reading of the call as the replies."""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules import reply_for
from agent.state import CallState, follow
from agent.types import CallContext, CallResult, Reply, Turn
from agent.vocabulary import CallOutcome, DriverStatus, EscalationStatus


def _outcome(state: CallState) -> CallOutcome:
    if state.emergency is not None:
        return CallOutcome.EMERGENCY_ESCALATION
    if state.gave_up or state.ended_in_silence:
        return CallOutcome.INCOMPLETE
    if state.status in (DriverStatus.ARRIVED, DriverStatus.UNLOADING):
        return CallOutcome.ARRIVAL_CONFIRMATION
    if state.status in (DriverStatus.DRIVING, DriverStatus.DELAYED):
        return CallOutcome.IN_TRANSIT_UPDATE
    return CallOutcome.INCOMPLETE


def result_of(state: CallState) -> CallResult:
    return CallResult(
        call_outcome=_outcome(state),
        driver_status=state.status,
        current_location=state.location.describe() if state.location else None,
        eta=state.eta,
        delay_reason=", ".join(state.delay_reasons) or None,
        unloading_status=", ".join(state.unloading) or None,
        pod_reminder_acknowledged=state.pod_ack,
        emergency_type=state.emergency,
        safety_status=state.safety,
        injury_status=state.injury,
        emergency_location=(
            state.emergency_location.describe() if state.emergency_location else None
        ),
        load_secure=state.load_secure,
        escalation_status=_escalation(state),
        on_time_status=state.on_time.status if state.on_time else None,
        minutes_late=state.on_time.minutes_late if state.on_time else None,
    )


def _escalation(state: CallState) -> EscalationStatus | None:
    """What the agent did with the emergency; only the provider can say a human answered."""
    if not state.escalated:
        return None
    if state.connecting_announced and state.office_alerted:
        return EscalationStatus.TRANSFER_FAILED  # the agent fell back to a callback
    if state.connecting_announced:
        return EscalationStatus.TRANSFER_REQUESTED
    return EscalationStatus.CALLBACK_REQUESTED


def reply_and_result(context: CallContext, transcript: Sequence[Turn]) -> tuple[Reply, CallResult]:
    """`next_reply` and `extract_result` together, reading the transcript once."""
    state = follow(transcript, context)
    return reply_for(context, state), result_of(state)


def extract_result(context: CallContext, transcript: Sequence[Turn]) -> CallResult:
    """The structured result of the call so far: facts from the transcript, the on-time risk
    against the context's appointment."""
    return result_of(follow(transcript, context))
