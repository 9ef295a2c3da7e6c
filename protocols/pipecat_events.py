"""The events the Pipecat bot's SessionObserver posts to `POST /api/v1/pipecat/event`.

The bot builds these models and the voice server validates them: one definition for both ends.
`session_started` carries the session's context; `transcript_updated` the transcript so far, as
the call goes; `session_summary` every figure the bot measured.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SESSION_STARTED = "session_started"
SESSION_SUMMARY = "session_summary"
TRANSCRIPT_UPDATED = "transcript_updated"
RECORDING_SAVED = "recording_saved"


class SessionContext(BaseModel):
    """Who and what the session is about; lets an event create a call the server never saw."""

    driver_name: str | None = Field(default=None, max_length=120)
    driver_phone: str | None = Field(default=None, max_length=32)
    load_number: str | None = Field(default=None, max_length=64)
    origin: str | None = Field(default=None, max_length=120)
    destination: str | None = Field(default=None, max_length=120)
    appointment: str | None = Field(default=None, max_length=64)
    scenario: str | None = Field(default=None, max_length=64)
    transport: str | None = Field(default=None, max_length=32)


class TranscriptItem(BaseModel):
    role: Literal["agent", "user"]
    content: str


class TurnCounts(BaseModel):
    """Turns in the transcript, by speaker."""

    user: int = Field(default=0, ge=0)
    bot: int = Field(default=0, ge=0)


# pydantic reads "NaN" and "inf" (also as strings) as floats by default; no column holds them.
FINITE_NUMBERS = ConfigDict(allow_inf_nan=False)


class LatencyStats(BaseModel):
    model_config = FINITE_NUMBERS

    p50: float = Field(ge=0)
    max: float = Field(ge=0)
    count: int = Field(ge=0)


Ms = Annotated[float, Field(ge=0)]
LATENCY_PARTS = ("e2e", "asr", "llm", "tts")
LATENCY_PERCENTILES = ("p50", "p90", "p95", "p99")


class TurnLatency(BaseModel):
    """One driver turn, in ms: end of the driver's speech to the bot's first audio (e2e), and
    the parts of it spent hearing the turn end (asr: VAD stop, transcription, turn detection),
    in the agent (llm) and synthesizing the first audio (tts)."""

    model_config = FINITE_NUMBERS

    e2e: Ms
    asr: Ms | None = None
    llm: Ms | None = None
    tts: Ms | None = None


class SessionLatency(BaseModel):
    """Milliseconds, in the shape the Retell webhook's `latency` is stored in (`e2e_p50_ms`,
    `asr_p90_ms`, ...: e2e, asr, llm, tts with p50/p90/p95/p99), so both engines compare on one
    scale; plus time to first byte per service and each turn's breakdown."""

    model_config = FINITE_NUMBERS

    ttfb_ms: dict[str, LatencyStats] = Field(default_factory=dict)
    e2e_p50_ms: Ms | None = None
    e2e_p90_ms: Ms | None = None
    e2e_p95_ms: Ms | None = None
    e2e_p99_ms: Ms | None = None
    e2e_max_ms: Ms | None = None
    e2e_count: int | None = Field(default=None, ge=0)
    asr_p50_ms: Ms | None = None
    asr_p90_ms: Ms | None = None
    asr_p95_ms: Ms | None = None
    asr_p99_ms: Ms | None = None
    llm_p50_ms: Ms | None = None
    llm_p90_ms: Ms | None = None
    llm_p95_ms: Ms | None = None
    llm_p99_ms: Ms | None = None
    tts_p50_ms: Ms | None = None
    tts_p90_ms: Ms | None = None
    tts_p95_ms: Ms | None = None
    tts_p99_ms: Ms | None = None
    turns: list[TurnLatency] = Field(default_factory=list, max_length=1000)


NonNegativeInt = Annotated[int, Field(ge=0)]


class SessionSummary(BaseModel):
    """`data` of a `session_summary` event: everything the bot measured about one session."""

    model_config = FINITE_NUMBERS

    duration_secs: float = Field(ge=0)
    keywords: list[str] = Field(default_factory=list)
    keyword_hits: dict[str, NonNegativeInt] = Field(default_factory=dict)
    interruptions: int = Field(default=0, ge=0)  # barge-ins: the user spoke over the bot
    sentiment: float | None = Field(default=None, ge=-1, le=1)
    tokens: int = Field(default=0, ge=0)
    turns: TurnCounts = Field(default_factory=TurnCounts)
    conversation_turns: int = Field(default=0, ge=0)  # user-then-bot exchanges (Pipecat's count)
    interrupted_turns: int = Field(default=0, ge=0)  # of those, the ones the user cut short
    speaking_secs: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    latency: SessionLatency = Field(default_factory=SessionLatency)
    transcript: list[TranscriptItem] = Field(default_factory=list)
    structured: dict[str, Any] | None = None
    end_reason: str | None = Field(default=None, max_length=64)
    context: SessionContext | None = None


class TranscriptUpdated(BaseModel):
    """`data` of a `transcript_updated` event: the transcript so far, for the live-calls view.

    Posted once and never spooled: it is only worth something while the call goes on, and the
    session summary carries the final transcript.
    """

    transcript: list[TranscriptItem] = Field(default_factory=list, max_length=2000)


class RecordingSaved(BaseModel):
    """`data` of a `recording_saved` event: the call's two-channel WAV is in the recordings
    store (see db/recordings.py) under `recording_url`."""

    model_config = FINITE_NUMBERS

    recording_url: str = Field(
        min_length=1, max_length=1000, pattern=r"^(file|supabase-storage|https?)://"
    )
    duration_secs: float = Field(ge=0)


class SessionStarted(BaseModel):
    context: SessionContext = Field(default_factory=SessionContext)


class PipecatEvent(BaseModel):
    """The envelope; `data` is validated per `event_type` (an unknown type is kept as is)."""

    model_config = ConfigDict(extra="ignore")

    provider_call_id: str = Field(min_length=1, max_length=128)
    event_type: str = Field(min_length=1, max_length=64)
    event_id: str = Field(min_length=1, max_length=128)
    occurred_at: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
