"""Call control and the call read API.

- `POST /api/v1/calls/start`: validate, ensure the driver, start the call with the vendor's
  engine, keep the row. Retell assigns the call id, so a Retell row is created once Retell has
  answered, keyed by its `call_id` (the id its socket and webhooks use). When Retell refuses,
  the attempt is still kept, as an `error` row keyed by a local `retell_attempt_<hex>` id, so
  the failure shows up in the app. Pipecat calls go through `POST /api/v1/voice/start`.
- `GET /api/v1/calls/{provider_call_id}`: one call, transcript and structured result included.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.exceptions import RequestValidationError

from db import Store, StoreError
from db.models import Call, CallStatus, CallUpdate, Provider
from voice_server.deps import DispatchKeyDep, SettingsDep, StoreDep
from voice_server.engines import EngineUnavailable, load_engine
from voice_server.engines.base import EngineError, StartCallRequest, StartedCall
from voice_server.routers.pipecat import start_voice_session

router = APIRouter(tags=["calls"])
log = logging.getLogger(__name__)


def _row_fields(request: StartCallRequest, driver_id: int) -> dict[str, Any]:
    return {
        "driver_id": driver_id,
        "load_number": request.load_number,
        "origin": request.origin,
        "destination": request.destination,
        "appointment": request.appointment,
        "scenario": request.scenario,
        "to_number": request.driver_phone,
        "call_type": "web_call" if request.mode == "web" else "phone_call",
    }


def _draft_call(local_id: str, request: StartCallRequest, driver_id: int) -> Call:
    """The row-to-be the engine starts the call for (saved once the provider has answered)."""
    return Call(
        id=0,
        provider=Provider.RETELL,
        provider_call_id=local_id,
        driver_name=request.driver_name,
        status=CallStatus.REGISTERED,
        created_at=datetime.now(UTC),
        **_row_fields(request, driver_id),
    )


def _keep_started(
    store: Store, request: StartCallRequest, driver_id: int, started: StartedCall
) -> Call:
    return store.upsert_call(
        Provider.RETELL,
        started.provider_call_id,
        CallUpdate(
            **_row_fields(request, driver_id),
            status=CallStatus.REGISTERED,  # never moves an already connected call back
            metadata={"started_via": "api", **started.details},
        ),
    )


@router.post("/api/v1/calls/start", status_code=201)
async def start_call(
    request: StartCallRequest, _auth: DispatchKeyDep, settings: SettingsDep, store: StoreDep
) -> StartedCall:
    """Start a Retell (web or phone) or Pipecat call to a driver about a load."""
    if request.vendor == "pipecat":
        return await start_voice_session(request, None, settings, store, vendor="pipecat")
    try:
        engine = load_engine(request.vendor)
    except EngineUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    if reason := engine.unavailable_reason(settings, request.mode):
        raise HTTPException(503, reason)
    if request.mode == "phone" and not request.driver_phone:
        raise RequestValidationError(
            [
                {
                    "type": "missing",
                    "loc": ("body", "driver_phone"),
                    "msg": "Field required for phone calls (E.164, e.g. +15551234567)",
                    "input": None,
                }
            ]
        )
    try:
        driver_id = await asyncio.to_thread(
            store.ensure_driver, request.driver_name, request.driver_phone
        )
    except StoreError:
        raise HTTPException(503, "The database is unavailable; no call was placed.") from None

    local_id = f"retell_attempt_{uuid.uuid4().hex}"
    try:
        started = await engine.start_call(
            settings, request, _draft_call(local_id, request, driver_id)
        )
    except EngineError as exc:
        failed = CallUpdate(
            **_row_fields(request, driver_id), status=CallStatus.ERROR, error=str(exc)
        )
        await asyncio.to_thread(store.upsert_call, Provider.RETELL, local_id, failed)
        raise HTTPException(exc.status_code, str(exc)) from None
    try:
        await asyncio.to_thread(_keep_started, store, request, driver_id, started)
    except StoreError as exc:
        # The call is placed; its socket and webhooks create the row when the database is back.
        log.error("call %s placed but not saved yet: %s", started.provider_call_id, exc)
    return started


@router.get("/api/v1/calls/{provider_call_id}/provider")
async def provider_status(
    provider_call_id: Annotated[str, Path(min_length=1, max_length=128)],
    _auth: DispatchKeyDep,
    settings: SettingsDep,
    store: StoreDep,
) -> dict[str, Any]:
    """The voice provider's own view of the call (its status), through the call's engine."""
    call = await asyncio.to_thread(store.get_call, provider_call_id)
    if call is None:
        raise HTTPException(404, f"No call with provider_call_id {provider_call_id!r}.")
    try:
        engine = load_engine(call.provider.value)
    except EngineUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    return await engine.describe(settings, provider_call_id)


@router.get("/api/v1/calls/{provider_call_id}")
def get_call(
    provider_call_id: Annotated[str, Path(min_length=1, max_length=128)],
    _auth: DispatchKeyDep,
    store: StoreDep,
    provider: Provider | None = None,
) -> Call:
    """The call with its transcript, structured result and analysis figures."""
    call = store.get_call(provider_call_id, provider)
    if call is None:
        raise HTTPException(404, f"No call with provider_call_id {provider_call_id!r}.")
    return call
