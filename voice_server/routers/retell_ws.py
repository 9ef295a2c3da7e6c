"""`/api/v1/retell/llm-webhook/{call_id}`: the WebSocket Retell dials for every call."""

from __future__ import annotations

import hmac
import re

from fastapi import APIRouter, WebSocket, status

from voice_server.blocking import app_threads
from voice_server.deps import AlertsDep, PolicyDep, SettingsDep, StoreDep
from voice_server.retell_recorder import RetellCallRecorder
from voice_server.retell_socket import RetellCallSession

router = APIRouter(tags=["retell"])

CALL_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")


@router.websocket("/api/v1/retell/llm-webhook/{call_id}")
async def retell_llm_socket(
    websocket: WebSocket,
    call_id: str,
    settings: SettingsDep,
    store: StoreDep,
    policy: PolicyDep,
    alerts: AlertsDep,
) -> None:
    # Retell sends no credentials here: the call id is the handle, checked with Retell itself.
    if not CALL_ID.fullmatch(call_id) or not await admitted(websocket, call_id, settings):
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    state = websocket.app.state
    recorder = RetellCallRecorder(
        store,
        call_id,
        keywords=settings.keywords,
        alerts=alerts,
        flush_interval=state.transcript_flush_secs,
        executor=app_threads(websocket),
        unsaved=state.unsaved_calls,
    )
    session = RetellCallSession(
        websocket,
        call_id,
        policy=policy,
        recorder=recorder,
        transfer_number=settings.dispatch_transfer_number,
        idle_secs=settings.retell_socket_idle_secs,
        greeted=state.greeted_calls,
        timezone=settings.dispatch_timezone,
    )
    await session.run()


async def admitted(websocket: WebSocket, call_id: str, settings: SettingsDep) -> bool:
    """Our own callers (the simulated call) show DISPATCH_API_KEY; any other socket must name
    a call Retell knows, when RETELL_API_KEY lets us ask."""
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    key = settings.dispatch_api_key
    if (
        key
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), key.get_secret_value().encode())
    ):
        return True
    directory = getattr(websocket.app.state, "retell_calls", None)
    return directory is None or await directory.knows(call_id)
