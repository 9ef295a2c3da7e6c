"""Rows and queries the Store speaks in. Column names here are the schema's column names."""

from __future__ import annotations

import typing
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from agent.vocabulary import CallOutcome, DriverStatus


class Provider(StrEnum):
    RETELL = "retell"
    PIPECAT = "pipecat"


class CallStatus(StrEnum):
    REGISTERED = "registered"  # row created, the provider has not connected yet
    ONGOING = "ongoing"
    ENDED = "ended"
    ERROR = "error"


# What every engine knows of a call when it starts (besides the driver).
CONTEXT_FIELDS = ("load_number", "origin", "destination", "appointment", "scenario")


class CallUpdate(BaseModel):
    """Fields to merge into a call. `None` means "not known by this update": never erases."""

    model_config = ConfigDict(extra="forbid")

    driver_id: int | None = None
    agent_id: int | None = None
    load_number: str | None = None
    origin: str | None = None
    destination: str | None = None
    appointment: str | None = None
    status: CallStatus | None = None
    scenario: str | None = None
    call_type: str | None = None  # web_call, phone_call, simulated, webrtc, twilio
    from_number: str | None = None
    to_number: str | None = None
    created_at: datetime | None = None  # only honoured on insert (seeding, backfills)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    # The schema's checks, here so every backend accepts and rejects the same updates.
    duration_secs: float | None = Field(default=None, ge=0)
    interruptions_est: int | None = Field(default=None, ge=0)
    tokens_estimated: int | None = Field(default=None, ge=0)
    keyword_hits: dict[str, int] | None = None
    sentiment: float | None = None
    transcript: list[dict[str, str]] | None = None  # [{role, content}]; kept if longer/equal
    structured: dict[str, Any] | None = None  # agent.CallResult.to_dict()
    recording_url: str | None = None
    disconnection_reason: str | None = None
    latency: dict[str, Any] | None = None
    cost: float | None = None  # provider's combined cost, in cents
    call_analysis: dict[str, Any] | None = None  # provider's post-call analysis
    metadata: dict[str, Any] | None = None
    error: str | None = None

    @classmethod
    def with_context(cls, context: Any, **fields: Any) -> CallUpdate:
        """`fields` and the CONTEXT_FIELDS of `context` (a start request, the agent's
        CallContext, a bot session's context)."""
        return cls(**{name: getattr(context, name) for name in CONTEXT_FIELDS}, **fields)

    # PostgreSQL strips null members from JSON it stores (jsonb_strip_nulls); stripping them
    # here gives every backend the same document, so `{"eta": None}` reads back as `{}` on all.
    @field_validator("structured", "latency", "call_analysis", "metadata")
    @classmethod
    def _without_nulls(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else _strip_nulls(value)


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


class Call(CallUpdate):
    """One row of `calllog`, joined with the driver's name: the update's fields, as stored."""

    model_config = ConfigDict(extra="ignore")

    id: int
    provider: Provider
    provider_call_id: str
    driver_name: str | None = None
    status: CallStatus
    created_at: datetime
    updated_at: datetime | None = None
    transcript: list[dict[str, str]] = Field(default_factory=list)
    call_outcome: str | None = None  # copies of structured[...] kept as indexed columns
    driver_status: str | None = None
    emergency_type: str | None = None


SortKey = Literal["created_at", "-created_at", "duration_secs", "-duration_secs"]


class CallFilters(BaseModel):
    """Every filter the UI and the read APIs offer. All optional; combined with AND."""

    model_config = ConfigDict(extra="forbid")

    query: str | None = None  # full text over transcripts; operators are plain text
    provider: Provider | None = None
    status: CallStatus | None = None
    call_outcome: str | None = None
    driver_status: str | None = None
    emergency_type: str | None = None
    driver_id: int | None = None
    driver_name: str | None = None  # case-insensitive substring of the driver's name
    load_number: str | None = None  # exact
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive
    # True: only calls whose start failed (status error, never connected); False: all others.
    # Figures take False: a call that never reached the driver has no outcome to count.
    failed_start: bool | None = None
    # agent.vocabulary.OnTimeStatus: "On Time", "At Risk" or "Late" (the agent's ETA against the
    # appointment); calls without an appointment or an ETA have none.
    on_time_status: str | None = None
    # Figures (metrics, latency trend, duration histogram) leave out simulated calls (the
    # Trigger page's, call_type "simulated") unless True; lists and searches show every call.
    include_simulated: bool = False


class CallPage(BaseModel):
    items: list[Call]
    total: int  # exact count of every matching call
    page: int  # 1-based
    page_size: int


class DayCount(BaseModel):
    day: str  # YYYY-MM-DD, a day in the office's zone (DISPATCH_TIMEZONE)
    call_outcome: str | None
    calls: int


class LatencyDay(BaseModel):
    """One office day (DISPATCH_TIMEZONE) of one engine's voice latency: over its calls that
    reported latency, the mean of each call's end of speech -> first audio p50 and p90 (ms)."""

    day: str  # YYYY-MM-DD in the office's zone
    provider: Provider
    calls: int
    e2e_p50_ms: float | None
    e2e_p90_ms: float | None


class CallMetrics(BaseModel):
    """Aggregates over the matching calls of one provider (Retell's summary, Pipecat's too)."""

    total_calls: int
    ended_calls: int
    avg_duration_secs: float | None
    avg_sentiment: float | None
    avg_interruptions: float | None
    total_tokens: int
    by_outcome: dict[str, int]
    by_status: dict[str, int]  # CallStatus -> count
    by_driver_status: dict[str, int]
    by_emergency_type: dict[str, int]
    per_day: list[DayCount]
    keyword_totals: dict[str, int]
    duration_histogram: list[dict[str, Any]]  # [{bucket_start_secs, bucket_end_secs, calls}]
    avg_latency_ms: float | None  # mean of latency["e2e_p50_ms"] where known

    # From the counts per category, with the vocabulary's words (not spelled again in SQL).
    @computed_field  # type: ignore[prop-decorator]
    @property
    def emergencies(self) -> int:
        return self.by_outcome.get(CallOutcome.EMERGENCY_ESCALATION.value, 0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def delays(self) -> int:
        return self.by_driver_status.get(DriverStatus.DELAYED.value, 0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def incomplete(self) -> int:
        return self.by_outcome.get(CallOutcome.INCOMPLETE.value, 0)


RetellMetrics = CallMetrics  # the name before Pipecat shared it


class PipecatMetricItem(BaseModel):
    id: int
    provider_call_id: str
    driver_id: int | None
    load_number: str | None
    created_at: datetime
    duration_secs: float | None
    interruptions_est: int | None
    tokens_estimated: int | None
    keyword_hits: dict[str, int] | None


class PipecatMetrics(BaseModel):
    items: list[PipecatMetricItem]  # one page, newest first
    total: int
    page: int
    page_size: int
    aggregates: CallMetrics  # same aggregate shape, over pipecat calls


class Event(BaseModel):
    provider: Provider
    provider_call_id: str
    event_type: str
    idempotency_key: str  # unique across all events
    payload: dict[str, Any]


class EmergencyAlert(BaseModel):
    """An emergency call the office must see: open until a manager acknowledges it."""

    id: int
    provider: Provider
    provider_call_id: str
    raised_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    # What the office needs to act, from the call's row (None until the result is saved).
    driver_name: str | None = None
    driver_phone: str | None = None
    load_number: str | None = None
    emergency_type: str | None = None
    injury_status: str | None = None
    safety_status: str | None = None
    emergency_location: str | None = None
    escalation_status: str | None = None

    @property
    def open(self) -> bool:
        return self.acknowledged_at is None


class EmergencyAlertPage(BaseModel):
    items: list[EmergencyAlert]  # the newest open alerts
    total: int  # every open alert


class AlertLogEntry(BaseModel):
    """One line of an alert's audit trail: raised, acknowledged (by whom)."""

    alert_id: int
    action: Literal["raised", "acknowledged"]
    actor: str | None = None
    at: datetime


class BotSession(BaseModel):
    """A bot session the voice server registered: which call a one-time token joins.

    Kept in the database (`bot_sessions`) so any bot process resolves any token; joining
    spends the token, once, whichever process asks first."""

    token: str = Field(min_length=16, max_length=128)
    provider_call_id: str = Field(min_length=1, max_length=128)
    transport: Literal["webrtc", "twilio"] = "webrtc"
    context: dict[str, str] = Field(default_factory=dict)
    expires_at: datetime


# -- calllog's column lists, derived from the models so that no backend spells them out -------


def _stored_as(annotation: Any) -> str:
    """ "json", "timestamp" or "plain": how a model field is kept in a column."""
    kinds = {typing.get_origin(a) or a for a in typing.get_args(annotation) or (annotation,)}
    if kinds & {dict, list}:
        return "json"
    return "timestamp" if datetime in kinds else "plain"


UPDATE_FIELDS = tuple(CallUpdate.model_fields)
JSON_FIELDS = tuple(
    n for n in UPDATE_FIELDS if _stored_as(CallUpdate.model_fields[n].annotation) == "json"
)
TIMESTAMP_FIELDS = tuple(
    n for n in UPDATE_FIELDS if _stored_as(CallUpdate.model_fields[n].annotation) == "timestamp"
)
# Columns copied from `structured` (indexed, filtered on), never written directly.
RESULT_COLUMNS = ("call_outcome", "driver_status", "emergency_type")
CALL_COLUMNS = tuple(n for n in Call.model_fields if n != "driver_name")  # driver_name: joined
