"""Starting a call: validate, keep the row, ask the vendor's engine. Both start routes use this.

Retell assigns the call id, so a Retell row is created once Retell has answered, keyed by its
`call_id` (the id its socket and webhooks use). When Retell refuses, the attempt is still kept,
as an `error` row keyed by a local `retell_attempt_<hex>` id, so the failure shows up in the
app. A Pipecat row is created first (`pc_<hex>`) and the bot's session registered for it.
The call's local time (`protocols.call_clock`) is fixed here, kept in the row's metadata and
passed to the engine with the rest of the call context.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi.exceptions import RequestValidationError

from db import Store, StoreError
from db.models import CONTEXT_FIELDS, Call, CallStatus, CallUpdate, Provider
from protocols.call_clock import call_local_time
from protocols.start_call import StartCallRequest, StartedCall
from settings import Settings
from voice_server.engines import Engine, EngineUnavailable, load_engine
from voice_server.engines.base import EngineError

log = logging.getLogger(__name__)

_CALL_TYPES = {  # (vendor, mode) -> calllog.call_type
    ("retell", "web"): "web_call",
    ("retell", "phone"): "phone_call",
    ("pipecat", "web"): "webrtc",
    ("pipecat", "phone"): "twilio",
}


async def start_call(settings: Settings, store: Store, request: StartCallRequest) -> StartedCall:
    """Start a Retell (web or phone) call or a Pipecat session to a driver about a load;
    EngineError (with the status the API answers) when it cannot be started."""
    engine = _available_engine(settings, request)
    # Fixed here, once: the agent reads "in 2 hours" against it on every reply and reconnect.
    local_time = call_local_time(request.appointment, settings.dispatch_timezone)
    if request.vendor == "pipecat":
        return await _start_pipecat(settings, store, request, engine, local_time)
    if request.mode == "phone" and not request.driver_phone:
        msg = "Field required for phone calls (E.164, e.g. +15551234567)"
        missing = {"type": "missing", "loc": ("body", "driver_phone"), "msg": msg, "input": None}
        raise RequestValidationError([missing])
    return await _start_retell(settings, store, request, engine, local_time)


def _available_engine(settings: Settings, request: StartCallRequest) -> Engine:
    try:
        engine = load_engine(request.vendor)
    except EngineUnavailable as exc:
        raise EngineError(str(exc), 503) from None
    if reason := engine.unavailable_reason(settings, request.mode):
        raise EngineError(reason, 503)
    return engine


def _row_fields(request: StartCallRequest, driver_id: int) -> dict[str, Any]:
    return {
        "driver_id": driver_id,
        **{name: getattr(request, name) for name in CONTEXT_FIELDS},
        "to_number": request.driver_phone,
        "call_type": _CALL_TYPES[(request.vendor, request.mode)],
    }


async def _start_retell(
    settings: Settings, store: Store, request: StartCallRequest, engine: Engine, local_time: str
) -> StartedCall:
    try:
        driver_id = await asyncio.to_thread(
            store.ensure_driver, request.driver_name, request.driver_phone
        )
    except StoreError:
        raise EngineError("The database is unavailable; no call was placed.", 503) from None

    local_id = f"retell_attempt_{uuid.uuid4().hex}"
    draft = Call(  # the row-to-be, saved once Retell has answered
        id=0,
        provider=Provider.RETELL,
        provider_call_id=local_id,
        driver_name=request.driver_name,
        status=CallStatus.REGISTERED,
        created_at=datetime.now(UTC),
        metadata={"local_time": local_time},
        **_row_fields(request, driver_id),
    )
    try:
        started = await engine.start_call(settings, request, draft)
    except EngineError as exc:
        failed = CallUpdate(
            **_row_fields(request, driver_id), status=CallStatus.ERROR, error=str(exc)
        )
        await asyncio.to_thread(store.upsert_call, Provider.RETELL, local_id, failed)
        raise
    kept = CallUpdate(
        **_row_fields(request, driver_id),
        status=CallStatus.REGISTERED,  # never moves an already connected call back
        metadata={"started_via": "api", "local_time": local_time, **started.details},
    )
    try:
        await asyncio.to_thread(store.upsert_call, Provider.RETELL, started.provider_call_id, kept)
    except StoreError as exc:
        # The call is placed; its socket and webhooks create the row when the database is back.
        log.error("call %s placed but not saved yet: %s", started.provider_call_id, exc)
    return started


async def _start_pipecat(
    settings: Settings, store: Store, request: StartCallRequest, engine: Engine, local_time: str
) -> StartedCall:
    provider_call_id = f"pc_{uuid.uuid4().hex}"

    def register() -> Call:
        driver_id = store.ensure_driver(request.driver_name, request.driver_phone)
        registered = CallUpdate(
            **_row_fields(request, driver_id),
            status=CallStatus.REGISTERED,
            metadata={"started_via": "api", "local_time": local_time},
        )
        return store.upsert_call(Provider.PIPECAT, provider_call_id, registered)

    try:
        call = await asyncio.to_thread(register)
    except StoreError:
        raise EngineError("The database is unavailable; no session was started.", 503) from None
    try:
        return await engine.start_call(settings, request, call)
    except EngineError as exc:
        failed = CallUpdate(status=CallStatus.ERROR, error=str(exc))
        await asyncio.to_thread(store.upsert_call, Provider.PIPECAT, provider_call_id, failed)
        raise
