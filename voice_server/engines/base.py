"""The one small interface every voice engine implements (one module per engine).

A third vendor is one new module registered in `voice_server.engines.ENGINES`; an engine
without configuration is simply unavailable (`unavailable_reason`), not an error elsewhere.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, Literal, Protocol

from db.models import Call
from protocols.call_clock import call_local_time
from protocols.start_call import StartCallRequest, StartedCall
from settings import Settings

__all__ = ["Engine", "EngineError", "StartCallRequest", "StartedCall", "call_start_time"]


class EngineError(RuntimeError):
    """The provider refused or failed; `status_code` is what our API answers (4xx or 502)."""

    def __init__(self, message: str, status_code: int = 502) -> None:
        super().__init__(message)
        self.status_code = status_code


def call_start_time(settings: Settings, call: Call) -> str:
    """The call's local time as `start_call` fixed it in the row; a row created elsewhere gets
    its creation time (in DISPATCH_TIMEZONE, or the appointment's zone)."""
    recorded = (call.metadata or {}).get("local_time")
    if isinstance(recorded, str) and recorded:
        return recorded
    created = call.created_at
    if created.tzinfo is None:  # stored as UTC
        created = created.replace(tzinfo=UTC)
    return call_local_time(call.appointment, settings.dispatch_timezone, created)


class Engine(Protocol):
    name: Literal["retell", "pipecat"]

    def unavailable_reason(self, settings: Settings, mode: str) -> str | None:
        """None when the engine can start a call in this mode; else what to set, e.g.
        "RETELL_API_KEY is not set: add it to .env to place Retell calls"."""

    async def start_call(
        self, settings: Settings, request: StartCallRequest, call: Call
    ) -> StartedCall:
        """Start the call for an existing `calllog` row; raise EngineError on provider failure."""

    async def describe(self, settings: Settings, provider_call_id: str) -> dict[str, Any]:
        """The provider's view of the call's status (identifiers, status), for the UI."""
