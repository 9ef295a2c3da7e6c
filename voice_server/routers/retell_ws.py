"""`/api/v1/retell/llm-webhook/{call_id}`: the WebSocket Retell dials for every call."""

from __future__ import annotations

import re

from fastapi import APIRouter, WebSocket, status

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
    # Retell sends no credentials here: the call id in the path is the only handle.
    if not CALL_ID.fullmatch(call_id):
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    recorder = RetellCallRecorder(
        store,
        call_id,
        keywords=settings.keywords,
        alerts=alerts,
        flush_interval=websocket.app.state.transcript_flush_secs,
    )
    session = RetellCallSession(
        websocket,
        call_id,
        policy=policy,
        recorder=recorder,
        transfer_number=settings.dispatch_transfer_number,
    )
    await session.run()
