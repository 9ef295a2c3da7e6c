"""The agent's contract: what goes in (call context, transcript) and what comes out.

Everything the agent computes is a function of (CallContext, transcript); these types carry
no hidden per-call state, so a call survives reconnects, restarts and several replicas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from agent.vocabulary import (
    CallOutcome,
    DriverStatus,
    EmergencyType,
    EscalationStatus,
    OnTimeStatus,
)

Role = Literal["agent", "user"]


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    content: str

    @classmethod
    def from_mapping(cls, item: Mapping[str, Any]) -> Turn:
        """Accept Retell's transcript items (extra keys such as `words` are ignored)."""
        role = item.get("role")
        return cls(
            role="agent" if role == "agent" else "user", content=str(item.get("content") or "")
        )


Transcript = tuple[Turn, ...]


def transcript_from(items: list[Mapping[str, Any]] | tuple[Turn, ...]) -> Transcript:
    return tuple(t if isinstance(t, Turn) else Turn.from_mapping(t) for t in items)


@dataclass(frozen=True, slots=True)
class CallContext:
    driver_name: str | None = None
    load_number: str | None = None
    origin: str | None = None
    destination: str | None = None
    appointment: str | None = None
    # A label for analytics only ("driver_check_in", "simulated"...): stored with the call by the
    # edge, never read by the agent, so a reply never depends on something the transcript and
    # the load details cannot explain.
    scenario: str | None = None
    # DISPATCH_TRANSFER_NUMBER, passed in by the edge only when this call can really be
    # transferred there (a phone line with a transfer the provider can place); None otherwise,
    # and the agent then never says it is connecting anyone.
    transfer_number: str | None = None
    callback_number: str | None = None  # the driver's phone when the call knows it
    # The driver's local time when the call started ("2026-11-26T13:05" or "1:05 pm"), when the
    # edge knows it: it places "in 2 hours" and weekday appointments for the on-time check.
    local_time: str | None = None

    @property
    def has_transfer_line(self) -> bool:
        return bool(self.transfer_number)

    @property
    def first_name(self) -> str | None:
        return (
            self.driver_name.split()[0] if self.driver_name and self.driver_name.split() else None
        )

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any] | None, *, transfer_number: str | None = None
    ) -> CallContext:
        """From Retell's `retell_llm_dynamic_variables` / `metadata` or Pipecat's session body."""
        values = values or {}

        def pick(*keys: str) -> str | None:
            for key in keys:
                value = values.get(key)
                if value not in (None, ""):
                    return str(value).strip()
            return None

        return cls(
            driver_name=pick("driver_name", "driver"),
            load_number=pick("load_number", "load"),
            origin=pick("origin"),
            destination=pick("destination"),
            appointment=pick("appointment", "appointment_time"),
            scenario=pick("scenario"),
            transfer_number=transfer_number,
            callback_number=pick("driver_phone", "callback_number"),
            local_time=pick("local_time", "current_time"),
        )


@dataclass(frozen=True, slots=True)
class Reply:
    """What the agent says next, sentence by sentence, and what it does with the call."""

    sentences: tuple[str, ...]
    end_call: bool = False
    transfer_number: str | None = None
    # An emergency's hand-off: the edge raises the office's alert now (the agent has just told
    # the driver the office knows, or is transferring them).
    alert_office: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass(frozen=True, slots=True)
class CallResult:
    """The structured result of a call so far. Field values use `agent.vocabulary`."""

    call_outcome: CallOutcome = CallOutcome.INCOMPLETE
    driver_status: DriverStatus | None = None
    current_location: str | None = None
    eta: str | None = None
    delay_reason: str | None = None
    unloading_status: str | None = None
    pod_reminder_acknowledged: bool | None = None
    emergency_type: EmergencyType | None = None
    safety_status: str | None = None
    injury_status: str | None = None
    emergency_location: str | None = None
    load_secure: bool | None = None
    escalation_status: EscalationStatus | None = None
    # The ETA against the appointment in the call context (None without both)
    on_time_status: OnTimeStatus | None = None
    minutes_late: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.value if hasattr(v, "value") else v) for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class Analysis:
    keyword_hits: dict[str, int] = field(default_factory=dict)
    sentiment: float = 0.0  # [-1, 1]
    user_turns: int = 0
    agent_turns: int = 0
    interruptions_est: int = 0
    tokens_estimated: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
