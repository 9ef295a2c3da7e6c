"""Call control and the call read API.

- `POST /api/v1/calls/start`: start a Retell or Pipecat call (see `voice_server.call_start`).
- `GET /api/v1/calls/{provider_call_id}`: one call, transcript and structured result included.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from db.models import Call, Provider
from protocols.start_call import StartCallRequest, StartedCall
from voice_server import call_start
from voice_server.deps import DispatchKeyDep, SettingsDep, StoreDep
from voice_server.engines import EngineUnavailable, load_engine
from voice_server.engines.base import EngineError

router = APIRouter(tags=["calls"])


@router.post("/api/v1/calls/start", status_code=201)
async def start_call(
    request: StartCallRequest, _auth: DispatchKeyDep, settings: SettingsDep, store: StoreDep
) -> StartedCall:
    """Start a Retell (web or phone) or Pipecat call to a driver about a load."""
    try:
        return await call_start.start_call(settings, store, request)
    except EngineError as exc:
        raise HTTPException(exc.status_code, str(exc)) from None


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
