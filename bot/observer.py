"""SessionObserver: one observer that turns a bot session into analytics for the voice server.

Built on Pipecat's own observers: SpeakingObserver (who spoke when, barge-ins),
ServiceMetricsObserver (TTFB and LLM token usage from MetricsFrames), TurnTrackingObserver
(conversation turns) and UserBotLatencyObserver (user-stopped to bot-started latency). It adds
the transcript (final transcriptions and the text the bot spoke), posted as it grows for the
live-calls view (best effort, never spooled) and checkpointed as a would-be summary on local
disk (delivered only if this process dies mid-call, see bot/spool.py), and, at session end --
EndFrame, CancelFrame or transport disconnect, whichever comes first, exactly once -- the summary
computed with the dispatch agent's analysis and structured result, sent through the EventClient.

It watches the flow without changing it and never raises into the pipeline.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    ClientConnectedFrame,
    EndFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    LLMFullResponseStartFrame,
    LLMMarkerFrame,
    LLMTextFrame,
    MetricsFrame,
    StartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.observers.service_metrics_observer import (
    ServiceLatencyKind,
    ServiceLatencyRecord,
    ServiceMetricsObserver,
    ServiceUsageKind,
    ServiceUsageRecord,
)
from pipecat.observers.speaking_observer import SpeakingObserver, SpeechEvent, SpeechEventKind
from pipecat.observers.turn_tracking_observer import TurnTrackingObserver
from pipecat.observers.user_bot_latency_observer import (
    LatencyBreakdown,
    MeasuredFrom,
    UserBotLatencyObserver,
)
from pipecat.processors.frame_processor import FrameDirection
from pydantic import ValidationError

from agent import analyze, extract_result
from agent.types import CallContext, Turn
from bot.event_client import EventClient
from protocols import pipecat_events as wire

FINISH_TIMEOUT_SECS = 15.0
# The end reason of a summary checkpointed mid-call and delivered after its process died.
PROCESS_LOST = "bot_process_lost"
# Live transcript updates go out this long after a change, carrying whatever else arrived.
LIVE_TRANSCRIPT_DELAY_SECS = 0.25

# The frames each of Pipecat's observers reads (pipecat-ai 1.14). Most frames in a call are
# audio; handing over only these keeps the observer off the hot path. UserBotLatencyObserver
# also marks TTS audio, but only for its breakdown: the user-to-bot latency used here comes
# from the speaking frames.
_SPEAKING_FRAMES = (
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
)
_METRICS_FRAMES = (MetricsFrame,)
_TURN_FRAMES = (
    StartFrame,
    UserStartedSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    CancelFrame,
)
_LATENCY_FRAMES = (
    ClientConnectedFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    UserStoppedSpeakingFrame,
    TranscriptionFrame,
    LLMFullResponseStartFrame,
    LLMMarkerFrame,
    LLMTextFrame,
    InterruptionFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    MetricsFrame,
    BotStartedSpeakingFrame,
    TTSAudioRawFrame,  # the first audio of a reply: where speech synthesis ends
)
_OWN_FRAMES = (StartFrame, TranscriptionFrame, LLMFullResponseStartFrame, TTSTextFrame)
_ANY_FRAME = tuple(
    {*_SPEAKING_FRAMES, *_METRICS_FRAMES, *_TURN_FRAMES, *_LATENCY_FRAMES, *_OWN_FRAMES}
)


class _InlineEvents:
    """Runs the observer's event handlers inline instead of one asyncio task per event.

    Pipecat's default spawns and tracks a task per event (and scans its task set when each
    finishes); the handlers here only add to counters, so running them in place is cheaper
    and keeps them in frame order. Exceptions are still caught and logged by Pipecat.
    """

    def _register_event_handler(self, event_name: str, sync: bool = False) -> None:
        super()._register_event_handler(event_name, sync=True)  # type: ignore[misc]


class _SpeakingObserver(_InlineEvents, SpeakingObserver):
    pass


class _ServiceMetricsObserver(_InlineEvents, ServiceMetricsObserver):
    pass


class _TurnTrackingObserver(_InlineEvents, TurnTrackingObserver):
    pass


class _UserBotLatencyObserver(_InlineEvents, UserBotLatencyObserver):
    pass


def event_id(provider_call_id: str, event_type: str) -> str:
    """The same id for the same (session, event type): a resent event is stored once."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"pipecat:{provider_call_id}:{event_type}").hex


# Which parts of Pipecat's latency breakdown (its contribution keys) count as hearing the end
# of the turn (asr), the agent (llm) and speech synthesis (tts); the rest (frame hops, the output
# transport) is only in e2e, as with Retell.
_BREAKDOWN_PARTS = {
    "asr": frozenset({"endpointing_wait", "transcription", "turn_detection"}),
    "llm": frozenset(
        {"llm_inference", "awaiting_speakable_text", "llm_tool_call", "function_handler"}
        | {"turn_completion", "waiting_for_user"}
    ),
    "tts": frozenset({"sentence_aggregation", "speech_synthesis"}),
}


def turn_latency(breakdown: LatencyBreakdown) -> wire.TurnLatency:
    parts = {
        part: round(
            1000 * sum(c.duration_secs for c in breakdown.contributions if c.key in keys), 1
        )
        for part, keys in _BREAKDOWN_PARTS.items()
    }
    return wire.TurnLatency(e2e=round(1000 * breakdown.total_secs, 1), **parts)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _percentiles_ms(name: str, ms: list[float]) -> dict[str, float]:
    if not ms:
        return {}
    return {
        f"{name}_{p}_ms": round(percentile(ms, int(p[1:]) / 100), 1)
        for p in ("p50", "p90", "p95", "p99")
    }


def _ms_stats(seconds: list[float]) -> wire.LatencyStats:
    ms = [s * 1000 for s in seconds]
    return wire.LatencyStats(
        p50=round(statistics.median(ms), 1), max=round(max(ms), 1), count=len(ms)
    )


def _session_context(context: Mapping[str, Any]) -> wire.SessionContext:
    """The context as the voice server accepts it; a field it would refuse is left out."""
    try:
        return wire.SessionContext.model_validate(context)
    except ValidationError as exc:
        refused = {error["loc"][0] for error in exc.errors()}
        logger.warning(f"Session context fields left out of the events: {sorted(refused)}")
        return wire.SessionContext.model_validate(
            {k: v for k, v in context.items() if k not in refused}
        )


class SessionObserver(BaseObserver):
    def __init__(
        self,
        *,
        provider_call_id: str,
        call_context: CallContext,
        session_context: Mapping[str, Any] | None = None,
        event_client: EventClient,
        keywords: tuple[str, ...],
        time_source: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(observe_every_push=False)
        self.provider_call_id = provider_call_id
        self._call_context = call_context
        self._session_context = _session_context(session_context or {})
        self._events = event_client
        self._keywords = keywords
        self._now = time_source

        self._speaking = _SpeakingObserver(time_source=time_source)
        self._metrics = _ServiceMetricsObserver(time_source=time_source)
        self._turns = _TurnTrackingObserver()
        self._latency = _UserBotLatencyObserver(time_source=time_source)
        self._routes: tuple[tuple[BaseObserver, tuple[type, ...]], ...] = (
            (self._speaking, _SPEAKING_FRAMES),
            (self._metrics, _METRICS_FRAMES),
            (self._turns, _TURN_FRAMES),
            (self._latency, _LATENCY_FRAMES),
        )
        self._children = tuple(child for child, _ in self._routes)
        # Frame type -> the children that read it, or None when nothing here does. Filled on
        # first sight of each type, so a frame nobody reads (most are audio) costs one lookup.
        self._plans: dict[type, tuple[BaseObserver, ...] | None] = {}
        self._speaking.add_event_handler("on_speech_event", self._on_speech_event)
        self._metrics.add_event_handler("on_service_latency", self._on_service_latency)
        self._metrics.add_event_handler("on_service_usage", self._on_service_usage)
        self._turns.add_event_handler("on_turn_ended", self._on_turn_ended)
        self._latency.add_event_handler("on_latency_measured", self._on_latency_measured)
        self._latency.add_event_handler("on_latency_breakdown", self._on_latency_breakdown)

        self.started_at: float | None = None
        self.transcript: list[dict[str, str]] = []
        self.interruptions = 0
        self.speaking_secs: dict[str, float] = {"user": 0.0, "bot": 0.0}
        self.llm_tokens = 0
        self.conversation_turns = 0
        self.interrupted_turns = 0
        self._bot_speaking = False
        self._reply_started = False
        self._ttfb: dict[str, list[float]] = defaultdict(list)
        self._e2e: list[float] = []
        self._turn_latency: list[wire.TurnLatency] = []

        self._started_sent: asyncio.Task | None = None
        self._live_update: asyncio.Task | None = None
        self._live_updates_sent = 0
        self._finish_task: asyncio.Task | None = None
        self.summary: wire.SessionSummary | None = None
        self.summary_event: dict[str, Any] | None = None  # exactly as sent (and spooled)

    # Lifecycle -------------------------------------------------------------------------------

    async def setup(self, task_manager) -> None:  # type: ignore[no-untyped-def]
        await super().setup(task_manager)
        for child in self._children:
            await child.setup(task_manager)

    async def on_pipeline_started(self) -> None:
        for child in self._children:
            await child.on_pipeline_started()
        self._mark_started()
        if self._finish_task is None:
            self._started_sent = asyncio.create_task(self._send_started())

    async def cleanup(self) -> None:
        """The worker tears the pipeline down: make sure the summary went out (or is spooled)."""
        await self.finish("pipeline_finished")
        await super().cleanup()

    async def finish(self, reason: str) -> wire.SessionSummary | None:
        """Compute and send the session summary, once, whoever asks first; never raises."""
        if self._finish_task is None:
            self._finish_task = asyncio.create_task(self._finish(reason))
        try:
            return await asyncio.wait_for(asyncio.shield(self._finish_task), FINISH_TIMEOUT_SECS)
        except Exception as exc:
            logger.warning(f"Session summary for {self.provider_call_id} still in flight: {exc!r}")
            return None

    # Frames ----------------------------------------------------------------------------------

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        try:
            children = self._plans[type(frame)]
        except KeyError:
            children = self._plans[type(frame)] = self._plan(type(frame))
        if children is None:
            return
        try:
            for child in children:
                await child.on_push_frame(data)
            self._record(data)
        except Exception:
            logger.exception("SessionObserver failed on a frame; the pipeline is unaffected")
        if isinstance(frame, (EndFrame, CancelFrame)):
            reason = "end" if isinstance(frame, EndFrame) else "cancel"
            # Not awaited here: this proxy task is cancelled at teardown, cleanup() awaits it.
            self._finish_task = self._finish_task or asyncio.create_task(self._finish(reason))

    def _plan(self, frame_type: type) -> tuple[BaseObserver, ...] | None:
        if not issubclass(frame_type, _ANY_FRAME):
            return None
        return tuple(child for child, types in self._routes if issubclass(frame_type, types))

    def _record(self, data: FramePushed) -> None:
        frame = data.frame
        if isinstance(frame, StartFrame):
            self._mark_started()
        elif isinstance(frame, TranscriptionFrame) and not isinstance(
            frame, InterimTranscriptionFrame
        ):
            self._append("user", frame.text)
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._reply_started = True  # each reply is its own agent turn, even back to back
        elif isinstance(frame, TTSTextFrame) and data.direction == FrameDirection.DOWNSTREAM:
            self._append("agent", frame.text)

    def _mark_started(self) -> None:
        if self.started_at is None:
            self.started_at = self._now()

    def _append(self, role: str, text: str) -> None:
        text = text.strip()
        if not text:
            return
        new_reply = role == "agent" and self._reply_started
        if self.transcript and self.transcript[-1]["role"] == role and not new_reply:
            self.transcript[-1]["content"] += " " + text
        else:
            self.transcript.append({"role": role, "content": text})
        if role == "agent":
            self._reply_started = False
        self._schedule_live_update()

    def _schedule_live_update(self) -> None:
        if self._finish_task is None and (self._live_update is None or self._live_update.done()):
            self._live_update = asyncio.create_task(self._send_live_transcript())

    async def _send_live_transcript(self) -> None:
        try:
            await asyncio.sleep(LIVE_TRANSCRIPT_DELAY_SECS)
            if self._finish_task is not None:
                return  # the summary carries the final transcript
            await self._checkpoint()  # on local disk first: the post may wait on the network
            self._live_updates_sent += 1
            update = wire.TranscriptUpdated(
                transcript=[wire.TranscriptItem.model_validate(item) for item in self.transcript]
            )
            event = wire.PipecatEvent(
                provider_call_id=self.provider_call_id,
                event_type=wire.TRANSCRIPT_UPDATED,
                event_id=f"{event_id(self.provider_call_id, wire.TRANSCRIPT_UPDATED)}-"
                f"{self._live_updates_sent}",
                occurred_at=datetime.fromtimestamp(self._now(), UTC),
                data=update.model_dump(mode="json"),
            )
            await self._events.post_once(event.model_dump(mode="json"))
        except Exception:
            logger.exception("Could not post the live transcript (the summary will carry it)")

    async def _checkpoint(self) -> None:
        """The summary as it would be if this process died now (bot/spool.py delivers it)."""
        try:
            if self._finish_task is None:
                summary = self.build_summary(PROCESS_LOST)
                await self._events.checkpoint(self._event(wire.SESSION_SUMMARY, summary))
        except Exception:
            logger.exception(f"Could not checkpoint the session {self.provider_call_id}")

    # Pipecat observers' events ---------------------------------------------------------------

    def _on_speech_event(self, _observer: SpeakingObserver, event: SpeechEvent) -> None:
        kind = event.kind
        if kind == SpeechEventKind.BOT_SPEECH_STARTED:
            self._bot_speaking = True
        elif kind == SpeechEventKind.BOT_SPEECH_STOPPED:
            self._bot_speaking = False
            self._add_speaking("bot", event)
        elif kind == SpeechEventKind.USER_TURN_STARTED and self._bot_speaking:
            # A barge-in: the user took the floor while the bot was talking. InterruptionFrames
            # are not counted: every user turn broadcasts one, bot speaking or not.
            self.interruptions += 1
        elif kind == SpeechEventKind.USER_TURN_STOPPED:
            self._add_speaking("user", event)

    def _add_speaking(self, who: str, event: SpeechEvent) -> None:
        if event.started_at is not None:
            self.speaking_secs[who] += max(0.0, event.timestamp - event.started_at)

    def _on_service_latency(self, _observer: Any, record: ServiceLatencyRecord) -> None:
        if record.kind == ServiceLatencyKind.TTFB:
            self._ttfb[record.processor].append(record.seconds)

    def _on_service_usage(self, _observer: Any, record: ServiceUsageRecord) -> None:
        if record.kind == ServiceUsageKind.LLM:
            self.llm_tokens += record.total_tokens or (
                (record.prompt_tokens or 0) + (record.completion_tokens or 0)
            )

    def _on_turn_ended(self, _observer: Any, _turn: int, _duration: float, interrupted: bool):
        self.conversation_turns += 1
        self.interrupted_turns += int(interrupted)

    def _on_latency_measured(self, _observer: Any, seconds: float) -> None:
        self._e2e.append(seconds)

    def _on_latency_breakdown(self, _observer: Any, breakdown: LatencyBreakdown) -> None:
        if breakdown.measured_from == MeasuredFrom.USER_SILENCE:  # not the greeting
            self._turn_latency.append(turn_latency(breakdown))

    # Summary ---------------------------------------------------------------------------------

    def latency(self) -> wire.SessionLatency:
        ttfb = {name: _ms_stats(values) for name, values in self._ttfb.items()}
        turns = self._turn_latency[:1000]
        if not self._e2e:
            return wire.SessionLatency(ttfb_ms=ttfb, turns=turns)
        e2e = _ms_stats(self._e2e)
        parts: dict[str, float] = _percentiles_ms("e2e", [s * 1000 for s in self._e2e])
        for name in ("asr", "llm", "tts"):
            parts |= _percentiles_ms(name, [getattr(t, name) for t in turns])
        return wire.SessionLatency(
            ttfb_ms=ttfb, e2e_max_ms=e2e.max, e2e_count=e2e.count, turns=turns, **parts
        )

    def build_summary(self, reason: str) -> wire.SessionSummary:
        turns = tuple(Turn(role=t["role"], content=t["content"]) for t in self.transcript)  # type: ignore[arg-type]
        analysis = analyze(turns, keywords=self._keywords)
        result = extract_result(self._call_context, turns)
        duration = max(0.0, self._now() - self.started_at) if self.started_at else 0.0
        return wire.SessionSummary(
            duration_secs=round(duration, 3),
            keywords=sorted(k for k, n in analysis.keyword_hits.items() if n),
            keyword_hits=dict(analysis.keyword_hits),
            interruptions=self.interruptions,
            sentiment=analysis.sentiment,
            tokens=self.llm_tokens or analysis.tokens_estimated,
            turns=wire.TurnCounts(user=analysis.user_turns, bot=analysis.agent_turns),
            conversation_turns=self.conversation_turns,
            interrupted_turns=self.interrupted_turns,
            speaking_secs={k: round(v, 3) for k, v in self.speaking_secs.items()},
            latency=self.latency(),
            transcript=[wire.TranscriptItem.model_validate(item) for item in self.transcript],
            structured=result.to_dict(),
            end_reason=reason,
            context=self._session_context,
        )

    async def _finish(self, reason: str) -> wire.SessionSummary | None:
        try:
            # session_started goes first, or not at all once the session is over.
            if self._started_sent is not None and not self._started_sent.done():
                await asyncio.wait_for(asyncio.shield(self._started_sent), FINISH_TIMEOUT_SECS)
            # Let anything the children scheduled (turn-end timers) run before summing up.
            await asyncio.sleep(0)
            for child in self._children:
                await child.cleanup()
            self.summary = self.build_summary(reason)
            self.summary_event = self._event(wire.SESSION_SUMMARY, self.summary)
            await self._events.send(self.summary_event)
            await self._events.close_checkpoint(self.provider_call_id)
            return self.summary
        except Exception:
            logger.exception(f"Could not build or spool the summary of {self.provider_call_id}")
            return self.summary

    async def _send_started(self) -> None:
        try:
            started = wire.SessionStarted(context=self._session_context)
            await self._events.send(self._event(wire.SESSION_STARTED, started))
        except Exception:
            logger.exception("Could not send session_started")

    def _event(
        self, event_type: str, data: wire.SessionStarted | wire.SessionSummary
    ) -> dict[str, Any]:
        event = wire.PipecatEvent(
            provider_call_id=self.provider_call_id,
            event_type=event_type,
            event_id=event_id(self.provider_call_id, event_type),
            # Fixed when the event is made, so a resent event is identical (and a no-op).
            occurred_at=datetime.fromtimestamp(self._now(), UTC),
            data=data.model_dump(mode="json"),
        )
        return event.model_dump(mode="json")
