"""Retell's custom-LLM WebSocket protocol: every message both directions, as pydantic models.

Retell -> server messages carry `interaction_type`; server -> Retell messages carry
`response_type`. Both sides of this repository (the socket handler and the Retell-side caller
used by tests, the benchmark and the Streamlit simulated call) speak through these models, so a
field name is spelled in exactly one place.

Ints and bools are strict: Retell drops a frame whose `response_id` is not an int or whose
`content_complete` is not a bool, so we refuse to build or accept such frames too.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
)


class ProtocolError(ValueError):
    """A frame that is not a valid protocol message (not JSON, unknown type, missing fields)."""


class _Message(BaseModel):
    # Retell adds fields over time; unknown ones are kept, never a reason to drop a frame.
    model_config = ConfigDict(extra="allow")


# --- Retell -> server -------------------------------------------------------------------------


class Word(_Message):
    word: str
    start: float | None = None
    end: float | None = None


class Utterance(_Message):
    # "agent" or "user" in `transcript`; kept as str so a new role never drops a whole turn.
    role: str
    content: str
    words: list[Word] | None = None

    def as_turn(self) -> dict[str, str]:
        """The `{role, content}` shape the Store and the agent speak."""
        return {"role": "agent" if self.role == "agent" else "user", "content": self.content}


MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01: anything later is not a real call time
EpochMs = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS)]


class RetellCall(_Message):
    """Retell's call object, as `call_details` on the socket and `call` in webhooks carry it
    (the fields we read; the rest is kept as extra fields)."""

    call_id: str | None = None
    agent_id: str | None = None
    call_type: str | None = None  # web_call, phone_call; "simulated" from our own caller
    call_status: str | None = None
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    metadata: dict[str, Any] | None = None
    retell_llm_dynamic_variables: dict[str, Any] | None = None
    start_timestamp: EpochMs | None = None
    end_timestamp: EpochMs | None = None
    duration_ms: EpochMs | None = None
    disconnection_reason: str | None = None
    transcript: str | None = None
    transcript_object: list[dict[str, Any]] | None = None
    recording_url: str | None = None
    latency: dict[str, Any] | None = None
    call_cost: dict[str, Any] | None = None
    call_analysis: dict[str, Any] | None = None


RetellCallInfo = RetellCall  # the name before the webhook shared the model


class PingPongRequest(_Message):
    interaction_type: Literal["ping_pong"]
    timestamp: StrictInt


class CallDetailsRequest(_Message):
    interaction_type: Literal["call_details"]
    call: RetellCall


class UpdateOnlyRequest(_Message):
    interaction_type: Literal["update_only"]
    transcript: list[Utterance]
    transcript_with_tool_calls: list[dict[str, Any]] | None = None
    turntaking: Literal["agent_turn", "user_turn"] | None = None


class _ReplyRequired(_Message):
    """Retell waits for a reply to `response_id` (the driver spoke, or has been silent)."""

    response_id: StrictInt
    transcript: list[Utterance]
    transcript_with_tool_calls: list[dict[str, Any]] | None = None


class ResponseRequiredRequest(_ReplyRequired):
    interaction_type: Literal["response_required"]


class ReminderRequiredRequest(_ReplyRequired):
    interaction_type: Literal["reminder_required"]


RetellRequest = Annotated[
    PingPongRequest
    | CallDetailsRequest
    | UpdateOnlyRequest
    | ResponseRequiredRequest
    | ReminderRequiredRequest,
    Field(discriminator="interaction_type"),
]
ReplyRequest = ResponseRequiredRequest | ReminderRequiredRequest


# --- server -> Retell -------------------------------------------------------------------------


class AgentConfig(_Message):
    auto_reconnect: StrictBool = True
    call_details: StrictBool = True
    transcript_with_tool_calls: StrictBool = False


class ConfigResponse(_Message):
    response_type: Literal["config"] = "config"
    config: AgentConfig = Field(default_factory=AgentConfig)


class _Speech(_Message):
    """One frame of what the agent says; it is several frames, the last with `content_complete`."""

    content: str
    content_complete: StrictBool
    end_call: StrictBool | None = None
    transfer_number: str | None = None
    no_interruption_allowed: StrictBool | None = None


class ResponseResponse(_Speech):
    """A reply to the request with this `response_id`."""

    response_type: Literal["response"] = "response"
    response_id: StrictInt
    digit_to_press: str | None = None


class AgentInterruptResponse(_Speech):
    """Speech the agent starts on its own, over the driver."""

    response_type: Literal["agent_interrupt"] = "agent_interrupt"
    interrupt_id: StrictInt


class PingPongResponse(_Message):
    response_type: Literal["ping_pong"] = "ping_pong"
    timestamp: StrictInt


class AgentSettingsUpdate(_Message):
    responsiveness: float | None = None
    interruption_sensitivity: float | None = None
    reminder_trigger_ms: StrictInt | None = None
    reminder_max_count: StrictInt | None = None


class UpdateAgentResponse(_Message):
    response_type: Literal["update_agent"] = "update_agent"
    agent_config: AgentSettingsUpdate


class ToolCallInvocationResponse(_Message):
    response_type: Literal["tool_call_invocation"] = "tool_call_invocation"
    tool_call_id: str
    name: str
    arguments: str  # JSON-encoded arguments


class ToolCallResultResponse(_Message):
    response_type: Literal["tool_call_result"] = "tool_call_result"
    tool_call_id: str
    content: str


class MetadataResponse(_Message):
    response_type: Literal["metadata"] = "metadata"
    metadata: dict[str, Any]


ServerMessage = Annotated[
    ConfigResponse
    | ResponseResponse
    | AgentInterruptResponse
    | PingPongResponse
    | UpdateAgentResponse
    | ToolCallInvocationResponse
    | ToolCallResultResponse
    | MetadataResponse,
    Field(discriminator="response_type"),
]

_retell_request = TypeAdapter(RetellRequest)
_server_message = TypeAdapter(ServerMessage)


def _load_object(text: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"frame is JSON {type(value).__name__}, not an object")
    return value


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'frame'}: {err['msg']}" for err in exc.errors()
    )


def parse_retell_request(text: str | bytes) -> RetellRequest:
    """A frame Retell sent to the server; ProtocolError when it is not one."""
    return retell_request_from(_load_object(text))


def load_frame(text: str | bytes) -> dict[str, Any]:
    """A frame's JSON object, not yet validated; ProtocolError when it is not one."""
    return _load_object(text)


def retell_request_from(value: dict[str, Any]) -> RetellRequest:
    """Validate a frame's JSON object as a request from Retell; ProtocolError if it is not."""
    try:
        return _retell_request.validate_python(value)
    except ValidationError as exc:
        raise ProtocolError(_describe(exc)) from None


def parse_server_message(text: str | bytes) -> ServerMessage:
    """A frame the server sent to Retell; ProtocolError when it is not one."""
    try:
        return _server_message.validate_python(_load_object(text))
    except ValidationError as exc:
        raise ProtocolError(_describe(exc)) from None


def encode(message: BaseModel) -> str:
    """The JSON text frame for a message; optional fields left unset are omitted."""
    return message.model_dump_json(exclude_none=True)
