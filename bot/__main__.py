"""`python -m bot [--host 127.0.0.1] [--port 7860] [-t webrtc|twilio]`: Pipecat's runner.

Adds to the runner's FastAPI app the routes the voice server uses to register a session
(`POST /dispatch/sessions`, bearer PIPECAT_API_KEY) and the middleware that ties the prebuilt
browser client to it (see bot.sessions). Configuration is checked before the server starts.
"""

from __future__ import annotations

import asyncio
import hmac
import sys
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field

from bot.bot import bot, event_client_for  # the runner looks for `bot` on __main__
from bot.services import check_bot_config
from bot.sessions import REGISTRY, SessionBodyMiddleware, SessionSpec
from settings import ConfigError, Settings, get_settings

__all__ = ["bot", "create_dispatch_routes", "main"]


class SessionRequest(BaseModel):
    provider_call_id: str = Field(min_length=1, max_length=128)
    transport: Literal["webrtc", "twilio"] = "webrtc"
    context: dict[str, str] = Field(default_factory=dict)


class RegisteredSession(BaseModel):
    provider_call_id: str
    session: str
    transport: str
    client_path: str  # where a browser joins (WebRTC)
    stream_path: str  # where Twilio connects its media stream (Twilio)
    stream_parameters: dict[str, str]  # <Parameter>s of the TwiML <Stream>


def create_dispatch_routes(app: FastAPI, settings: Settings) -> None:
    def require_pipecat_key(authorization: Annotated[str | None, Header()] = None) -> None:
        if settings.pipecat_api_key is None:
            raise HTTPException(503, "PIPECAT_API_KEY is not set on the bot.")
        expected = settings.pipecat_api_key.get_secret_value().encode()
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            raise HTTPException(401, "Send Authorization: Bearer <PIPECAT_API_KEY>.")

    auth = [Depends(require_pipecat_key)]

    @app.post("/dispatch/sessions", dependencies=auth)
    async def register_session(request: SessionRequest) -> RegisteredSession:
        spec = SessionSpec(
            provider_call_id=request.provider_call_id,
            context=dict(request.context),
            transport=request.transport,
        )
        token = REGISTRY.register(spec)
        return RegisteredSession(
            provider_call_id=spec.provider_call_id,
            session=token,
            transport=spec.transport,
            client_path=f"/client/?session={token}",
            stream_path="/ws",
            stream_parameters={"session": token},
        )

    @app.get("/dispatch/sessions/{provider_call_id}", dependencies=auth)
    async def describe_session(provider_call_id: str) -> dict[str, str]:
        token = REGISTRY.token_for(provider_call_id)
        if token is None:
            raise HTTPException(404, "No pending session for this call (joined or expired).")
        spec = REGISTRY.lookup(token)
        assert spec is not None
        return {
            "provider_call_id": provider_call_id,
            "status": "waiting",
            "transport": spec.transport,
        }

    app.add_middleware(SessionBodyMiddleware)


def main() -> None:
    from pipecat.runner.run import app
    from pipecat.runner.run import main as run_runner

    try:
        settings = get_settings()
        check_bot_config(settings)
    except ConfigError as exc:
        sys.exit(str(exc))
    # Summaries spooled while the voice server was unreachable go out now.
    report = asyncio.run(event_client_for(settings).flush())
    if report.delivered or report.pending:
        print(f"Spool: {report.delivered} event(s) delivered, {report.pending} still waiting.")
    create_dispatch_routes(app, settings)
    run_runner()


if __name__ == "__main__":
    main()
