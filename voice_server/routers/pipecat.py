"""Pipecat: the bot's telemetry events, its metrics read API, and starting a bot session.

- `POST /api/v1/pipecat/event` (bearer PIPECAT_API_KEY): `session_started` / `session_summary`
  from the bot's SessionObserver; idempotent on (provider_call_id, event_id). A
  `transcript_updated` event updates an ongoing call's transcript (live view) and is not kept.
- `GET /api/v1/pipecat/metrics` (bearer DISPATCH_API_KEY): per-call items and aggregates.
- `POST /api/v1/voice/start?vendor=pipecat` (bearer DISPATCH_API_KEY): a new bot session.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from db import Store, StoreError
from db.models import CallStatus, CallUpdate, Event, PipecatMetrics, Provider
from protocols import pipecat_events as wire
from protocols.start_call import StartCallRequest, StartedCall
from voice_server import call_start
from voice_server.deps import (
    AlertsDep,
    CallFiltersDep,
    DispatchKeyDep,
    PagingDep,
    PipecatKeyDep,
    SettingsDep,
    StoreDep,
)
from voice_server.engines.base import EngineError

router = APIRouter(tags=["pipecat"])
ModelT = TypeVar("ModelT", bound=BaseModel)


def _parse_data(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """Validate `data` for a known event type; 422 naming `body.data.<field>` otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            err = dict(err)
            err["loc"] = ("body", "data", *err["loc"])
            err.pop("url", None)
            errors.append(err)
        raise RequestValidationError(errors) from None


def _context_update(store: Store, context: wire.SessionContext | None) -> CallUpdate:
    if context is None:
        return CallUpdate()
    driver_id = (
        store.ensure_driver(context.driver_name, context.driver_phone)
        if context.driver_name
        else None
    )
    return CallUpdate.with_context(context, driver_id=driver_id, call_type=context.transport)


# Summary fields with a column of their own; every other figure is kept in `metadata`.
_SUMMARY_COLUMNS = {
    "duration_secs": "duration_secs",
    "interruptions": "interruptions_est",
    "tokens": "tokens_estimated",
    "keyword_hits": "keyword_hits",
    "sentiment": "sentiment",
    "transcript": "transcript",
    "structured": "structured",
    "latency": "latency",
    "end_reason": "disconnection_reason",
}


def _summary_update(store: Store, summary: wire.SessionSummary, at: datetime) -> CallUpdate:
    base = _context_update(store, summary.context)
    figures = summary.model_dump(mode="json", exclude_none=True)
    columns = {column: figures.get(field) for field, column in _SUMMARY_COLUMNS.items()}
    metadata = summary.model_dump(mode="json", exclude={*_SUMMARY_COLUMNS, "context"})
    return CallUpdate(
        **base.model_dump(exclude_none=True)
        | columns
        | {
            "status": CallStatus.ENDED,
            "ended_at": at,
            "duration_secs": round(summary.duration_secs, 3),
            "metadata": metadata,
        }
    )


@router.post("/api/v1/pipecat/event")
def receive_event(
    event: wire.PipecatEvent, _auth: PipecatKeyDep, store: StoreDep, alerts: AlertsDep
) -> dict[str, Any]:
    """Apply the event to its call (creating the call if unknown), then keep it once.

    Applying is an idempotent merge, so a retried event (same event_id) changes nothing and is
    reported as a duplicate; an unknown event_type is kept but changes no call column.
    """
    try:
        applied = _apply_event(store, event)
    except StoreError:
        # Retryable for the bot: its spool keeps the event until the database is back.
        raise HTTPException(503, "The database is unavailable; retry the event later.") from None
    if event.event_type == wire.SESSION_SUMMARY:
        summary = wire.SessionSummary.model_validate(event.data)
        context = summary.context or wire.SessionContext()
        alerts.raise_for(
            Provider.PIPECAT,
            event.provider_call_id,
            summary.structured,
            driver_name=context.driver_name,
            driver_phone=context.driver_phone,
            load_number=context.load_number,
        )
    return applied


def _apply_live_transcript(store: Store, event: wire.PipecatEvent) -> dict[str, Any]:
    """The transcript so far, while the call goes on; not kept as an event (the summary is)."""
    update = _parse_data(wire.TranscriptUpdated, event.data)
    existing = store.get_call(event.provider_call_id, Provider.PIPECAT)
    applied = existing is None or existing.status not in (CallStatus.ENDED, CallStatus.ERROR)
    if applied:
        store.upsert_call(
            Provider.PIPECAT,
            event.provider_call_id,
            CallUpdate(
                status=CallStatus.ONGOING,
                transcript=[item.model_dump() for item in update.transcript],
            ),
        )
    return {
        "ok": True,
        "duplicate": False,
        "applied": applied,
        "provider_call_id": event.provider_call_id,
    }


def _apply_event(store: Store, event: wire.PipecatEvent) -> dict[str, Any]:
    if event.event_type == wire.TRANSCRIPT_UPDATED:
        return _apply_live_transcript(store, event)
    at = event.occurred_at or datetime.now(UTC)
    update: CallUpdate | None = None
    if event.event_type == wire.SESSION_SUMMARY:
        update = _summary_update(store, _parse_data(wire.SessionSummary, event.data), at)
    elif event.event_type == wire.SESSION_STARTED:
        started = _parse_data(wire.SessionStarted, event.data)
        update = _context_update(store, started.context).model_copy(
            update={"status": CallStatus.ONGOING, "started_at": at}
        )
    elif event.event_type == wire.RECORDING_SAVED:
        recording = _parse_data(wire.RecordingSaved, event.data)
        update = CallUpdate(recording_url=recording.recording_url)

    if update is not None:
        store.upsert_call(Provider.PIPECAT, event.provider_call_id, update)
    recorded = store.record_event(
        Event(
            provider=Provider.PIPECAT,
            provider_call_id=event.provider_call_id,
            event_type=event.event_type,
            idempotency_key=f"pipecat:{event.provider_call_id}:{event.event_id}",
            payload=event.model_dump(mode="json"),
        )
    )
    return {
        "ok": True,
        "duplicate": not recorded,
        "applied": update is not None,
        "provider_call_id": event.provider_call_id,
    }


@router.get("/api/v1/pipecat/metrics")
def pipecat_metrics(
    _auth: DispatchKeyDep,
    store: StoreDep,
    filters: CallFiltersDep,
    paging: PagingDep,
) -> PipecatMetrics:
    """Per-session items (one page, newest first) and aggregates over the matching sessions."""
    filters = filters.model_copy(update={"provider": Provider.PIPECAT})
    return store.pipecat_metrics(filters, page=paging.page, page_size=paging.page_size)


@router.post("/api/v1/voice/start", status_code=201)
async def start_voice_session(
    request: StartCallRequest,
    _auth: DispatchKeyDep,
    settings: SettingsDep,
    store: StoreDep,
    vendor: Literal["pipecat"] = "pipecat",
) -> StartedCall:
    """Create the call row, then register a session with the bot that the driver can join."""
    request = request.model_copy(update={"vendor": vendor})
    try:
        return await call_start.start_call(settings, store, request)
    except EngineError as exc:
        raise HTTPException(exc.status_code, str(exc)) from None
