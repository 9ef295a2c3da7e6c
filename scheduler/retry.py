"""How an attempt ended, from its call, and what happens next: the retry policy.

A call the driver talked on is complete and never retried. No answer, busy, voicemail and
failed starts are retried with doubling backoff (out of quiet hours, except a call-now or a
follow-up on an open emergency) until the slot's last attempt; then the load is flagged
"driver unreachable".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from agent.vocabulary import CallOutcome
from db.load_models import (
    AttemptOutcome,
    CallPlan,
    ClaimedAttempt,
    OpenAttempt,
    Settlement,
    SlotKind,
)
from scheduler.plans import after_quiet_hours, driver_zone

# Retell's disconnection_reason values, Twilio's call statuses / answering-machine results
# (Pipecat's phone transport), and the simulated engine's (it uses Retell's).
NO_ANSWER_REASONS = frozenset(
    {"dial_no_answer", "no-answer", "no_answer", "registered_call_timeout", "error_user_not_joined"}
)
BUSY_REASONS = frozenset({"dial_busy", "busy"})
VOICEMAIL_REASONS = frozenset(
    {
        "voicemail_reached",
        "machine_detected",
        "machine_start",
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
        "fax",
    }
)
FAILED_REASONS = frozenset({"dial_failed", "failed", "canceled", "concurrency_limit_reached"})
RETRYABLE = frozenset(
    {
        AttemptOutcome.NO_ANSWER,
        AttemptOutcome.BUSY,
        AttemptOutcome.VOICEMAIL,
        AttemptOutcome.FAILED_START,
        AttemptOutcome.FAILED,
        AttemptOutcome.INTERRUPTED,
    }
)
QUIET_EXEMPT_KINDS = frozenset({SlotKind.CALL_NOW, SlotKind.EMERGENCY_FOLLOWUP})


def call_outcome(attempt: OpenAttempt) -> AttemptOutcome:
    """What the attempt's call amounted to (ended, or without a result in time)."""
    if attempt.state == "placing":
        return AttemptOutcome.INTERRUPTED
    reason = (attempt.disconnection_reason or "").lower()
    if reason in NO_ANSWER_REASONS:
        return AttemptOutcome.NO_ANSWER
    if reason in BUSY_REASONS:
        return AttemptOutcome.BUSY
    if reason in VOICEMAIL_REASONS:
        return AttemptOutcome.VOICEMAIL
    if reason in FAILED_REASONS or reason.startswith("error"):
        return AttemptOutcome.FAILED
    if attempt.user_turns:
        return AttemptOutcome.COMPLETED  # the driver talked, however the call ended
    if attempt.call_status == "ended":
        return AttemptOutcome.NO_ANSWER  # it ended and nobody said a word
    return AttemptOutcome.FAILED  # an error row, no row at all, or no result in time


def settlement(
    attempt: OpenAttempt | ClaimedAttempt,
    outcome: AttemptOutcome,
    *,
    plan: CallPlan,
    now: datetime,
    detail: str | None = None,
    not_before: datetime | None = None,
    call_result: str | None = None,
) -> Settlement:
    """The policy: complete, retry at a time, or give up and flag the driver unreachable."""
    if outcome is AttemptOutcome.COMPLETED:
        return Settlement(
            outcome=outcome,
            detail=detail,
            arrival_confirmed=call_result == CallOutcome.ARRIVAL_CONFIRMATION.value,
        )
    if attempt.attempt >= attempt.max_attempts:
        return Settlement(outcome=outcome, detail=detail, unreachable=True)
    retry_at = now + timedelta(minutes=plan.retry_minutes * 2 ** (attempt.attempt - 1))
    if not_before is not None:
        retry_at = max(retry_at, not_before)
    if attempt.kind not in QUIET_EXEMPT_KINDS:
        retry_at = after_quiet_hours(retry_at, driver_zone(attempt.load), plan)
    return Settlement(outcome=outcome, detail=detail, retry_at=retry_at)
