"""Which call a bot session is: the session registry the voice server fills, in the database.

The voice server registers a session (`POST /dispatch/sessions`, bearer PIPECAT_API_KEY) with
the call's provider_call_id and context, and gets back a one-session token. The session is kept
in the database (`bot_sessions`, with its expiry), not in this process, so any bot process
behind one address resolves any token; joining spends it, once, whichever process asks first
(the database decides), and a spent, expired or unknown token is refused. The token reaches
`bot(runner_args)` in the runner's session body:

- WebRTC: the driver opens `/client/?session=<token>`; Pipecat's prebuilt client then calls the
  runner's `POST /start` without a body, so `SessionBodyMiddleware` fills `body.session` from the
  page's address (the Referer of that same-origin request).
- Twilio: the TwiML `<Stream>` carries `<Parameter name="session" value="<token>"/>`, which the
  runner hands over as the stream's custom parameters (`call_data.body`).

A body can also carry the context itself (`provider_call_id`, `driver_name`, ...), e.g. a
direct call to the runner's `/start`. Without either, the session is ad hoc: it still runs and
reports, under a generated provider_call_id (so it does when the database cannot be asked).

A context always holds the call's `local_time` (the voice server fixes it when the call starts;
otherwise it is fixed when the session is registered or resolved), so the agent reads "in 2
hours" against the call's start however often the session's context is read.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

from fastapi import APIRouter, Depends, HTTPException
from loguru import logger
from pydantic import BaseModel, Field

from db import Store, StoreError, open_store
from db.models import BotSession
from protocols.asgi_body import read_body, replaying
from protocols.bearer_auth import bearer_key
from protocols.call_clock import call_local_time
from settings import Settings

SESSION_TTL_SECS = 30 * 60
PROCESS_NAME = f"{socket.gethostname()}:{os.getpid()}"  # who joined a session
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


class SessionRefused(Exception):
    """The session token is spent, expired or unknown: no session runs for it."""


class SessionRegistry:
    """Sessions registered by the voice server, kept in the database until joined or expired."""

    def __init__(
        self,
        store: Store,
        *,
        ttl_secs: float = SESSION_TTL_SECS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._ttl = timedelta(seconds=ttl_secs)
        self._clock = clock
        self._migrated = False
        self._migrate_lock = threading.Lock()

    def prepare(self) -> None:
        """Migrate the database once (StoreError when it cannot be; retried on the next use)."""
        self._ready_store()

    def _ready_store(self) -> Store:
        if not self._migrated:
            with self._migrate_lock:
                if not self._migrated:
                    self._store.migrate()
                    self._migrated = True
        return self._store

    def register(self, spec: SessionSpec) -> str:
        token = secrets.token_urlsafe(18)
        session = BotSession(
            token=token,
            provider_call_id=spec.provider_call_id,
            transport=spec.transport,  # type: ignore[arg-type]
            context=spec.context,
            expires_at=self._clock() + self._ttl,
        )
        self._ready_store().register_bot_session(session)
        return token

    def join(self, token: str) -> SessionSpec | None:
        """Spend the token: its session, or None when it is spent, expired or unknown."""
        session = self._ready_store().join_bot_session(token, PROCESS_NAME, self._clock())
        return _spec(session) if session else None

    def waiting(self, provider_call_id: str) -> SessionSpec | None:
        session = self._ready_store().waiting_bot_session(provider_call_id, self._clock())
        return _spec(session) if session else None

    def resolve(
        self,
        body: Mapping[str, Any] | None,
        *,
        fallback_id: str,
        transport: str,
        timezone: str = "UTC",
    ) -> SessionSpec:
        """The session a runner body names (spending its token), else an ad-hoc one;
        SessionRefused for a token that is spent, expired or unknown."""
        body = body if isinstance(body, Mapping) else {}
        token = body.get("session")
        if isinstance(token, str) and token:
            try:
                spec = self.join(token)
            except StoreError as exc:
                logger.error(f"Session token not checked, database unavailable ({exc}): ad hoc")
            else:
                if spec is None:
                    raise SessionRefused("Session token spent, expired or unknown")
                return spec
        context = with_local_time(
            {k: str(body[k]) for k in CONTEXT_KEYS if body.get(k) not in (None, "")}, timezone
        )
        provider_call_id = str(body.get("provider_call_id") or f"pc_{fallback_id}")
        return SessionSpec(provider_call_id=provider_call_id, context=context, transport=transport)


def _spec(session: BotSession) -> SessionSpec:
    return SessionSpec(
        provider_call_id=session.provider_call_id,
        context=dict(session.context),
        transport=session.transport,
    )


_registries: dict[tuple[str, ...], SessionRegistry] = {}
_registries_lock = threading.Lock()


def registry_for(settings: Settings) -> SessionRegistry:
    """The process's registry on the database the settings select (one store per database)."""
    key = (settings.database_backend, settings.database_url, settings.supabase_url or "")
    with _registries_lock:
        if key not in _registries:
            _registries[key] = SessionRegistry(open_store(settings))
        return _registries[key]


def with_local_time(context: dict[str, str], timezone: str) -> dict[str, str]:
    """The context with the call's local time: the one the voice server fixed at the call's
    start, else now (a session registered or started directly), fixed from here on."""
    if context.get("local_time") or context.get("current_time"):
        return context
    return context | {"local_time": call_local_time(context.get("appointment"), timezone)}


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

    registry = registry_for(settings)

    @router.post("/dispatch/sessions", dependencies=auth)
    async def register_session(request: SessionRequest) -> RegisteredSession:
        spec = SessionSpec(
            provider_call_id=request.provider_call_id,
            context=with_local_time(dict(request.context), settings.dispatch_timezone),
            transport=request.transport,
        )
        try:
            token = await asyncio.to_thread(registry.register, spec)
        except StoreError as exc:
            logger.error(f"Session {spec.provider_call_id} not registered: {exc}")
            raise HTTPException(503, "The bot's database is unavailable; try again.") from None
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
        try:
            spec = await asyncio.to_thread(registry.waiting, provider_call_id)
        except StoreError:
            raise HTTPException(503, "The bot's database is unavailable; try again.") from None
        if spec is None:
            raise HTTPException(404, "No pending session for this call (joined or expired).")
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

        raw = await read_body(receive)
        if raw is None:  # the client left: nothing to answer
            return
        try:
            payload = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            payload = None
        if isinstance(payload, dict) and not payload.get("body"):
            payload["body"] = {"session": token}
            raw = json.dumps(payload).encode()
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode()))
        await self.app(dict(scope, headers=headers), replaying(raw, receive), send)


def _session_from_referer(scope: dict) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"referer":
            query = parse_qs(urlparse(value.decode(errors="replace")).query)
            tokens = query.get("session")
            return tokens[0] if tokens else None
    return None
