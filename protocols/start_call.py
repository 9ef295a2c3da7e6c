"""The start-call contract: what the app sends to start a call and what it gets back.

`POST /api/v1/calls/start` and `POST /api/v1/voice/start` take a `StartCallRequest` and answer a
`StartedCall`; the Streamlit app builds and reads the same models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from protocols.phones import DEFAULT_REGION, to_e164
from settings import ConfigError, get_settings


def configured_phone_region() -> str:
    """DEFAULT_PHONE_REGION of this process (US when the settings cannot be read here)."""
    try:
        return get_settings().default_phone_region
    except ConfigError:
        return DEFAULT_REGION


def not_blank(value: str) -> str:
    """A name or place without its surrounding spaces; blank is refused."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


def e164_phone(value: str | None, info: ValidationInfo) -> str | None:
    """A phone number as E.164 (none when blank); national numbers are read in
    DEFAULT_PHONE_REGION (a validation context's `phone_region` wins, for callers that hold
    their own settings)."""
    if value is None or not value.strip():
        return None
    region = (info.context or {}).get("phone_region") or configured_phone_region()
    return to_e164(value, region)


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

    _not_blank = field_validator("driver_name", "load_number", "origin", "destination")(not_blank)
    _e164 = field_validator("driver_phone")(e164_phone)

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
