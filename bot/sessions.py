"""Which call a bot session is: the pending-session registry the voice server fills.

The voice server registers a session (`POST /dispatch/sessions`, bearer PIPECAT_API_KEY) with
the call's provider_call_id and context, and gets back a one-session token. The token reaches
`bot(runner_args)` in the runner's session body:

- WebRTC: the driver opens `/client/?session=<token>`; Pipecat's prebuilt client then calls the
  runner's `POST /start` without a body, so `SessionBodyMiddleware` fills `body.session` from the
  page's address (the Referer of that same-origin request).
- Twilio: the TwiML `<Stream>` carries `<Parameter name="session" value="<token>"/>`, which the
  runner hands over as the stream's custom parameters (`call_data.body`).

A body can also carry the context itself (`provider_call_id`, `driver_name`, ...), e.g. a
direct call to the runner's `/start`. Without either, the session is ad hoc: it still runs and
reports, under a generated provider_call_id.

A context always holds the call's `local_time` (the voice server fixes it when the call starts;
otherwise it is fixed when the session is registered or resolved), so the agent reads "in 2
hours" against the call's start however often the session's context is read.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

from fastapi import APIRouter, Depends, HTTPException
from loguru import logger
from pydantic import BaseModel, Field

from protocols.bearer_auth import bearer_key
from protocols.call_clock import call_local_time
from settings import Settings

SESSION_TTL_SECS = 30 * 60
CONTEXT_KEYS = (
    "driver_name",
    "driver_phone",
    "load_number",
    "origin",
    "destination",
    "appointment",
    "scenario",
    "local_time",
)


@dataclass(frozen=True, slots=True)
class SessionSpec:
    provider_call_id: str
    context: dict[str, Any] = field(default_factory=dict)
    transport: str = "webrtc"


class SessionRegistry:
    """Sessions registered by the voice server and not yet joined (or expired)."""

    def __init__(self, ttl_secs: float = SESSION_TTL_SECS) -> None:
        self._ttl_secs = ttl_secs
        self._pending: dict[str, tuple[float, SessionSpec]] = {}
        self._by_call: dict[str, str] = {}

    def register(self, spec: SessionSpec) -> str:
        self._expire()
        token = secrets.token_urlsafe(18)
        self._pending[token] = (time.monotonic() + self._ttl_secs, spec)
        self._by_call[spec.provider_call_id] = token
        return token

    def lookup(self, token: str) -> SessionSpec | None:
        self._expire()
        entry = self._pending.get(token)
        return entry[1] if entry else None

    def token_for(self, provider_call_id: str) -> str | None:
        self._expire()
        return self._by_call.get(provider_call_id)

    def _expire(self) -> None:
        now = time.monotonic()
        for token, (deadline, spec) in list(self._pending.items()):
            if deadline < now:
                del self._pending[token]
                self._by_call.pop(spec.provider_call_id, None)

    def resolve(
        self,
        body: Mapping[str, Any] | None,
        *,
        fallback_id: str,
        transport: str,
        timezone: str = "UTC",
    ) -> SessionSpec:
        body = body if isinstance(body, Mapping) else {}
        token = body.get("session")
        if isinstance(token, str) and token:
            spec = self.lookup(token)
            if spec is not None:
                return spec
            logger.warning("Unknown or expired session token: running an ad-hoc session")
        context = with_local_time(
            {k: str(body[k]) for k in CONTEXT_KEYS if body.get(k) not in (None, "")}, timezone
        )
        provider_call_id = str(body.get("provider_call_id") or f"pc_{fallback_id}")
        return SessionSpec(provider_call_id=provider_call_id, context=context, transport=transport)


def with_local_time(context: dict[str, str], timezone: str) -> dict[str, str]:
    """The context with the call's local time: the one the voice server fixed at the call's
    start, else now (a session registered or started directly), fixed from here on."""
    if context.get("local_time") or context.get("current_time"):
        return context
    return context | {"local_time": call_local_time(context.get("appointment"), timezone)}


REGISTRY = SessionRegistry()


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


def session_router(settings: Settings) -> APIRouter:
    """`POST /dispatch/sessions` and `GET /dispatch/sessions/{id}`, bearer PIPECAT_API_KEY."""
    router = APIRouter()

    require_pipecat_key = bearer_key(
        "PIPECAT_API_KEY",
        lambda _: settings.pipecat_api_key,
        "PIPECAT_API_KEY is not set on the bot.",
    )
    auth = [Depends(require_pipecat_key)]

    @router.post("/dispatch/sessions", dependencies=auth)
    async def register_session(request: SessionRequest) -> RegisteredSession:
        spec = SessionSpec(
            provider_call_id=request.provider_call_id,
            context=with_local_time(dict(request.context), settings.dispatch_timezone),
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

    @router.get("/dispatch/sessions/{provider_call_id}", dependencies=auth)
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

    return router


class SessionBodyMiddleware:
    """ASGI middleware: `POST /start` from `/client/?session=<token>` gets `body.session`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/start":
            await self.app(scope, receive, send)
            return
        token = _session_from_referer(scope)
        if token is None:
            await self.app(scope, receive, send)
            return

        raw = b""
        more = True
        while more:
            message = await receive()
            raw += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            payload = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            payload = None
        if isinstance(payload, dict) and not payload.get("body"):
            payload["body"] = {"session": token}
            raw = json.dumps(payload).encode()
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode()))
        scope = dict(scope, headers=headers)
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _session_from_referer(scope: dict) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"referer":
            query = parse_qs(urlparse(value.decode(errors="replace")).query)
            tokens = query.get("session")
            return tokens[0] if tokens else None
    return None
