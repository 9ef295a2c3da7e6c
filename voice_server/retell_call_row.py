"""Retell's call object -> our call row: one mapping for the socket's `call_details` (the
recorder) and the webhooks (where Retell is authoritative)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from agent.types import CallContext
from db.models import CallUpdate
from protocols.call_clock import call_local_time
from protocols.retell.messages import RetellCall

_LATENCY_PERCENTILES = ("p50", "p90", "p95", "p99")


def call_context(call: RetellCall, *, timezone: str | None = None) -> CallContext:
    """The dispatch context the call carries (metadata, overridden by dynamic variables).

    A call started elsewhere (an inbound call, Retell's dashboard) carries no `local_time`:
    with `timezone` (DISPATCH_TIMEZONE) it is the call's own start, which every reconnect and
    every replica reads the same."""
    context = CallContext.from_mapping(
        {**(call.metadata or {}), **(call.retell_llm_dynamic_variables or {})}
    )
    started_at = _from_ms(call.start_timestamp)
    if context.local_time or timezone is None or started_at is None:
        return context
    return replace(context, local_time=call_local_time(context.appointment, timezone, started_at))


def call_row(call: RetellCall, context: CallContext) -> CallUpdate:
    """What the call object tells us about the call; what it does not say stays None."""
    started_at, ended_at = _from_ms(call.start_timestamp), _from_ms(call.end_timestamp)
    duration = call.duration_ms / 1000 if call.duration_ms is not None else None
    if duration is None and started_at and ended_at:
        duration = (ended_at - started_at).total_seconds()
    cost = (call.call_cost or {}).get("combined_cost")
    return CallUpdate.with_context(
        context,
        call_type=call.call_type,
        from_number=call.from_number,
        to_number=call.to_number,
        started_at=started_at,
        ended_at=ended_at,
        # An end before the start is a clock error, not a duration: unknown, never negative.
        duration_secs=round(duration, 3) if duration is not None and duration >= 0 else None,
        recording_url=call.recording_url,
        disconnection_reason=call.disconnection_reason,
        latency=flatten_latency(call.latency),
        cost=float(cost) if isinstance(cost, int | float) else None,
        call_analysis=call.call_analysis,
        metadata=_retell_metadata(call),
    )


def driver_of(call: RetellCall, context: CallContext) -> tuple[str, str | None] | None:
    """(name, phone) of the driver: who Retell dialled, or who dialled in."""
    if not context.driver_name:
        return None
    phone = call.from_number if call.direction == "inbound" else call.to_number
    return context.driver_name, phone


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


def _from_ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if value and value > 0 else None


def _retell_metadata(call: RetellCall) -> dict[str, Any] | None:
    keep = {
        key: value
        for key in ("agent_id", "direction", "metadata", "retell_llm_dynamic_variables")
        if (value := getattr(call, key)) not in (None, {}, "")
    }
    return keep or None
