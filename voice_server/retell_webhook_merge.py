"""Retell's webhook call object -> the fields of our call row (Retell is authoritative here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from agent.types import CallContext
from db.models import CallStatus, CallUpdate

# Events whose call object we merge; any other event is only kept as an event.
MERGED_EVENTS = frozenset({"call_started", "call_ended", "call_analyzed"})

_STATUS = {
    "registered": CallStatus.REGISTERED,
    "ongoing": CallStatus.ONGOING,
    "ended": CallStatus.ENDED,
    "error": CallStatus.ERROR,
    "not_connected": CallStatus.ERROR,
}
_EVENT_STATUS = {
    "call_started": CallStatus.ONGOING,
    "call_ended": CallStatus.ENDED,
    "call_analyzed": CallStatus.ENDED,
}
_LATENCY_PERCENTILES = ("p50", "p90", "p95", "p99")
MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01: anything later is not a real call time
EpochMs = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS)]


class WebhookCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    call_id: str = Field(min_length=1, max_length=128)
    agent_id: str | None = None
    call_type: str | None = None
    call_status: str | None = None
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    metadata: dict[str, Any] | None = None
    retell_llm_dynamic_variables: dict[str, Any] | None = None
    start_timestamp: EpochMs | None = None
    end_timestamp: EpochMs | None = None
    duration_ms: Annotated[int, Field(ge=0, le=MAX_EPOCH_MS)] | None = None
    disconnection_reason: str | None = None
    transcript: str | None = None
    transcript_object: list[dict[str, Any]] | None = None
    recording_url: str | None = None
    latency: dict[str, Any] | None = None
    call_cost: dict[str, Any] | None = None
    call_analysis: dict[str, Any] | None = None


class RetellWebhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: str = Field(min_length=1, max_length=64)
    call: WebhookCall


def _from_ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if value and value > 0 else None


def flatten_latency(latency: dict[str, Any] | None) -> dict[str, Any] | None:
    """`{"e2e": {"p50": 812, ...}, "llm": {...}}` -> `{"e2e_p50_ms": 812, ...}` (ms)."""
    if not latency:
        return None
    flat = {
        f"{name}_{p}_ms": stats[p]
        for name, stats in latency.items()
        if isinstance(stats, dict)
        for p in _LATENCY_PERCENTILES
        if isinstance(stats.get(p), int | float)
    }
    return flat or None


def transcript_rows(call: WebhookCall) -> list[dict[str, str]] | None:
    """The `{role, content}` turns of Retell's transcript_object (or its plain transcript)."""
    if call.transcript_object:
        rows = [
            {"role": "agent" if t.get("role") == "agent" else "user", "content": str(t["content"])}
            for t in call.transcript_object
            if t.get("role") in ("agent", "user") and t.get("content")
        ]
        return rows or None
    if call.transcript:
        rows = []
        for line in call.transcript.splitlines():
            speaker, sep, content = line.partition(":")
            if sep and speaker.strip().lower() in ("agent", "user") and content.strip():
                rows.append({"role": speaker.strip().lower(), "content": content.strip()})
        return rows or None
    return None


def call_update(webhook: RetellWebhook, *, has_transcript: bool) -> CallUpdate:
    """What this webhook tells us about the call; unknown fields stay None (never erase)."""
    call = webhook.call
    context = CallContext.from_mapping(
        {**(call.metadata or {}), **(call.retell_llm_dynamic_variables or {})}
    )
    started_at, ended_at = _from_ms(call.start_timestamp), _from_ms(call.end_timestamp)
    duration = call.duration_ms / 1000 if call.duration_ms is not None else None
    if duration is None and started_at and ended_at:
        duration = (ended_at - started_at).total_seconds()
    cost = (call.call_cost or {}).get("combined_cost")
    metadata = {
        key: value
        for key, value in {
            "agent_id": call.agent_id,
            "direction": call.direction,
            "metadata": call.metadata,
            "retell_llm_dynamic_variables": call.retell_llm_dynamic_variables,
        }.items()
        if value not in (None, {}, "")
    }
    return CallUpdate(
        load_number=context.load_number,
        origin=context.origin,
        destination=context.destination,
        appointment=context.appointment,
        scenario=context.scenario,
        status=_STATUS.get(call.call_status or "") or _EVENT_STATUS.get(webhook.event),
        call_type=call.call_type,
        from_number=call.from_number,
        to_number=call.to_number,
        started_at=started_at,
        ended_at=ended_at,
        duration_secs=round(duration, 3) if duration is not None else None,
        recording_url=call.recording_url,
        disconnection_reason=call.disconnection_reason,
        latency=flatten_latency(call.latency),
        cost=float(cost) if isinstance(cost, int | float) else None,
        call_analysis=call.call_analysis,
        metadata=metadata or None,
        transcript=None if has_transcript else transcript_rows(call),
    )


def driver_of(webhook: RetellWebhook) -> tuple[str, str | None] | None:
    """(name, phone) of the driver this call is with, when the call says."""
    call = webhook.call
    context = CallContext.from_mapping(
        {**(call.metadata or {}), **(call.retell_llm_dynamic_variables or {})}
    )
    if not context.driver_name:
        return None
    phone = call.from_number if call.direction == "inbound" else call.to_number
    return context.driver_name, phone
