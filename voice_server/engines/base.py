"""The one small interface every voice engine implements (one module per engine).

A third vendor is one new module registered in `voice_server.engines.ENGINES`; an engine
without configuration is simply unavailable (`unavailable_reason`), not an error elsewhere.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from db.models import Call
from settings import ConfigError, Settings, get_settings
from voice_server.phones import DEFAULT_REGION, to_e164


def configured_phone_region() -> str:
    """DEFAULT_PHONE_REGION of this process (US when the settings cannot be read here)."""
    try:
        return get_settings().default_phone_region
    except ConfigError:
        return DEFAULT_REGION


class StartCallRequest(BaseModel):
    vendor: Literal["retell", "pipecat"] = "retell"
    mode: Literal["web", "phone"] = "web"
    driver_name: str = Field(min_length=1, max_length=120)
    driver_phone: str | None = Field(default=None, max_length=32)
    load_number: str = Field(min_length=1, max_length=64)
    origin: str = Field(min_length=1, max_length=120)
    destination: str = Field(min_length=1, max_length=120)
    appointment: str | None = Field(default=None, max_length=64)
    scenario: str | None = Field(default=None, max_length=64)

    @field_validator("driver_name", "load_number", "origin", "destination")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("driver_phone")
    @classmethod
    def _e164(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Stored as E.164; national numbers are read in DEFAULT_PHONE_REGION (a validation
        context's `phone_region` wins, for callers that hold their own settings)."""
        if value is None or not value.strip():
            return None
        region = (info.context or {}).get("phone_region") or configured_phone_region()
        return to_e164(value, region)

    def dynamic_variables(self) -> dict[str, str]:
        """The call context as Retell's `retell_llm_dynamic_variables` (strings only)."""
        values = {
            "driver_name": self.driver_name,
            "load_number": self.load_number,
            "origin": self.origin,
            "destination": self.destination,
            "appointment": self.appointment,
            "scenario": self.scenario,
        }
        return {k: v for k, v in values.items() if v}


class StartedCall(BaseModel):
    provider: Literal["retell", "pipecat"]
    provider_call_id: str
    status: str
    access_token: str | None = None  # Retell web calls: for the web client SDK
    join_url: str | None = None  # Pipecat: where a browser (or Twilio) joins the session
    details: dict[str, Any] = Field(default_factory=dict)


class EngineError(RuntimeError):
    """The provider refused or failed; `status_code` is what our API answers (4xx or 502)."""

    def __init__(self, message: str, status_code: int = 502) -> None:
        super().__init__(message)
        self.status_code = status_code


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
