"""Pipecat: sessions on our own bots (`python -m bot`, Pipecat's runner at BOT_URL or BOT_URLS).

Starting a call registers the session with a bot (`POST {bot}/dispatch/sessions`, bearer
PIPECAT_API_KEY) with the call's provider_call_id and context: with several BOT_URLS, the
least-loaded one that answers (bot_placement.py), the next one when it cannot register. The
answer says where to join, on that bot: the prebuilt browser client
(`{bot}/client/?session=<token>`) for web calls, or the Twilio media-stream endpoint
(`wss://<bot host>/ws` with a `session` <Parameter>) for phone calls. Each session has its own
one-time token, kept in the database, so any bot process can join it.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlparse

import httpx

from db.models import Call
from protocols.start_call import StartCallRequest, StartedCall
from settings import Settings
from voice_server.engines.base import EngineError, call_start_time
from voice_server.engines.bot_placement import note_placed, ranked_bots

TIMEOUT_SECS = 5.0


def stream_url(bot_url: str, path: str) -> str:
    parsed = urlparse(bot_url)
    scheme = "wss" if parsed.scheme == "https" else "ws"
    return f"{scheme}://{parsed.netloc}{path}"


class PipecatEngine:
    name: Literal["pipecat"] = "pipecat"

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport

    def unavailable_reason(self, settings: Settings, mode: str) -> str | None:
        if settings.pipecat_api_key is None:
            return (
                "PIPECAT_API_KEY is not set: add it to .env (the bot and the voice server share "
                "it) to start Pipecat sessions."
            )
        if not settings.bot_url.startswith(("http://", "https://")):
            return f"BOT_URL={settings.bot_url!r} must be the bot runner's http(s) address."
        return None

    def _client(self, settings: Settings, bot_url: str) -> httpx.AsyncClient:
        assert settings.pipecat_api_key is not None
        return httpx.AsyncClient(
            base_url=bot_url,
            headers={"Authorization": f"Bearer {settings.pipecat_api_key.get_secret_value()}"},
            timeout=TIMEOUT_SECS,
            transport=self._transport,
        )

    async def start_call(
        self, settings: Settings, request: StartCallRequest, call: Call
    ) -> StartedCall:
        transport = "twilio" if request.mode == "phone" else "webrtc"
        context = request.dynamic_variables() | {
            "driver_phone": request.driver_phone,
            "local_time": call_start_time(settings, call),
        }
        body = {
            "provider_call_id": call.provider_call_id,
            "transport": transport,
            "context": {k: v for k, v in context.items() if v},
        }
        bots = await ranked_bots(
            settings.bot_url_list,
            timeout_secs=settings.bot_health_timeout_secs,
            transport=self._transport,
        )
        failures = []
        for base in bots:
            try:
                async with self._client(settings, base) as client:
                    response = await client.post("/dispatch/sessions", json=body)
            except httpx.HTTPError as exc:
                failures.append(f"{base}: {type(exc).__name__}")
                continue
            if response.status_code in (401, 403):
                raise EngineError(
                    f"The Pipecat bot at {base} refused PIPECAT_API_KEY: use the same value "
                    "for the bots and the voice server.",
                    502,
                )
            if response.status_code >= 300:
                failures.append(f"{base}: {response.status_code}")
                continue
            note_placed(base)
            return self._started(call, transport, base, response.json())
        variable = "BOT_URLS" if settings.bot_urls else "BOT_URL"
        raise EngineError(
            f"No Pipecat bot registered the session ({variable}; is `make bot` running?): "
            + "; ".join(failures),
            502,
        )

    def _started(
        self, call: Call, transport: str, base: str, session: dict[str, Any]
    ) -> StartedCall:
        join_url = (
            stream_url(base, session["stream_path"])
            if transport == "twilio"
            else base + session["client_path"]
        )
        return StartedCall(
            provider="pipecat",
            provider_call_id=call.provider_call_id,
            status="registered",
            join_url=join_url,
            details={
                "transport": transport,
                "session": session["session"],
                "stream_parameters": session.get("stream_parameters", {}),
            },
        )

    async def describe(self, settings: Settings, provider_call_id: str) -> dict[str, Any]:
        """Any bot answers from the database: the first one that is reachable."""
        response = None
        for base in settings.bot_url_list:
            try:
                async with self._client(settings, base) as client:
                    response = await client.get(f"/dispatch/sessions/{provider_call_id}")
                break
            except httpx.HTTPError:
                continue
        if response is None:
            return {"provider_call_id": provider_call_id, "status": "bot_unreachable"}
        if response.status_code == 404:
            return {"provider_call_id": provider_call_id, "status": "joined_or_expired"}
        if response.status_code >= 300:
            return {"provider_call_id": provider_call_id, "status": "unknown"}
        return response.json()
