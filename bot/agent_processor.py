"""The dispatch agent as a Pipecat frame processor: it sits where an LLM service would.

It consumes the LLMContext the user aggregator emits at the end of each user turn, turns the
context's messages into the agent's transcript, runs the agent's Policy and pushes the reply
downstream as LLM text, sentence by sentence, between LLMFullResponseStart/End frames (so the
TTS speaks it and the assistant aggregator adds it to the context). When the agent decides to end
the call or hand it to a human, it does so through a `CallControl` after the reply is spoken.
When the user stays silent after the bot spoke, it asks the policy for a reminder.

Like an LLM service, it reports TTFB and (estimated) token usage as MetricsFrames, and an
InterruptionFrame cancels the reply in progress (FrameProcessor cancels the process task).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Iterable
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    EndWorkerFrame,
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    UserStartedSpeakingFrame,
)
from pipecat.metrics.metrics import LLMTokenUsage
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from agent.types import CallContext, Turn
from bot.call_control import CallControl, NoTransfer

DEFAULT_SILENCE_TIMEOUT_SECS = 8.0


def transcript_from_messages(messages: Iterable[Any]) -> tuple[Turn, ...]:
    """The agent's transcript from LLM context messages (system messages and tools skipped)."""
    turns: list[Turn] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role not in ("user", "assistant"):
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(
                part.get("text", "")
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
        text = str(content or "").strip()
        if text:
            turns.append(Turn(role="agent" if role == "assistant" else "user", content=text))
    return tuple(turns)


def estimate_tokens(text: str) -> int:
    """~4 characters per token: the usual rule of thumb for English with GPT tokenizers."""
    return math.ceil(len(text) / 4) if text else 0


class DispatchAgentProcessor(FrameProcessor):
    def __init__(
        self,
        *,
        policy: Any,
        call_context: CallContext,
        call_control: CallControl | None = None,
        silence_timeout_secs: float | None = DEFAULT_SILENCE_TIMEOUT_SECS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._policy = policy
        self._call_context = call_context
        self._call_control = call_control or NoTransfer()
        self._silence_timeout_secs = silence_timeout_secs
        self._context: Any = None
        self._reminders_in_a_row = 0
        self._silence_task: asyncio.Task | None = None
        self._pending_transfer: str | None = None
        self._ending = False
        self.replies = 0

    def can_generate_metrics(self) -> bool:
        return True

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)

        if isinstance(frame, LLMContextFrame):
            if frame.speculation:
                return  # a provisional context: the turn is not confirmed yet
            self._context = frame.context
            self._reminders_in_a_row = 0
            await self._cancel_silence_timer()
            await self._respond(reminder=False)
            return

        if isinstance(frame, (UserStartedSpeakingFrame, BotStartedSpeakingFrame)):
            await self._cancel_silence_timer()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            # Broadcast both ways by the output transport: act on one copy only.
            if direction == FrameDirection.UPSTREAM or frame.broadcast_sibling_id is None:
                await self._on_bot_stopped_speaking()
        elif isinstance(frame, (EndFrame, CancelFrame)):
            await self._cancel_silence_timer()
        await self.push_frame(frame, direction)

    async def cleanup(self) -> None:
        await self._cancel_silence_timer()
        await super().cleanup()

    # Replies -----------------------------------------------------------------------------------

    def _transcript(self) -> tuple[Turn, ...]:
        return transcript_from_messages(self._context.get_messages() if self._context else [])

    async def _respond(self, *, reminder: bool) -> None:
        if self._ending:
            return
        transcript = self._transcript()
        await self.start_ttfb_metrics()
        await self.push_frame(LLMFullResponseStartFrame())
        spoken: list[str] = []
        end_call = False
        transfer_number: str | None = None
        try:
            async for part in self._policy.stream(
                self._call_context,
                transcript,
                reminders_in_a_row=self._reminders_in_a_row if reminder else 0,
            ):
                if not spoken:
                    await self.stop_ttfb_metrics()
                if part.text:
                    spoken.append(part.text)
                    text = part.text if part.text.endswith(" ") else part.text + " "
                    await self.push_frame(LLMTextFrame(text))
                end_call = end_call or part.end_call
                transfer_number = transfer_number or part.transfer_number
                if part.last:
                    break
        finally:
            await self.stop_ttfb_metrics()
            await self.push_frame(LLMFullResponseEndFrame())
        self.replies += 1
        prompt = " ".join(t.content for t in transcript)
        completion = " ".join(spoken)
        await self.start_llm_usage_metrics(
            LLMTokenUsage(
                prompt_tokens=estimate_tokens(prompt),
                completion_tokens=estimate_tokens(completion),
                total_tokens=estimate_tokens(prompt) + estimate_tokens(completion),
            )
        )
        if transfer_number:
            self._ending = True
            self._pending_transfer = transfer_number
            logger.info(f"Agent hands the call to a human at {transfer_number}")
        elif end_call:
            self._ending = True
            await self._end_call("agent ended the call")

    async def _on_bot_stopped_speaking(self) -> None:
        if self._pending_transfer:
            number, self._pending_transfer = self._pending_transfer, None
            if not await self._call_control.transfer(number):
                await self._after_failed_transfer(number)
            return
        if not self._ending:
            self._start_silence_timer()

    async def _after_failed_transfer(self, number: str) -> None:
        """The transfer could not be placed: from now on this call has no transfer line, and
        the agent tells the driver so (the office calls back) instead of leaving them waiting."""
        logger.warning(f"Transfer to {number} failed; the agent falls back to a callback")
        self._call_context = dataclasses.replace(self._call_context, transfer_number=None)
        self._ending = False
        await self._respond(reminder=False)

    async def _end_call(self, reason: str) -> None:
        # Downstream, behind the reply: the TTS and the output transport finish speaking first.
        await self.push_frame(EndWorkerFrame(reason=reason))

    # Silence -----------------------------------------------------------------------------------

    def _start_silence_timer(self) -> None:
        if self._silence_timeout_secs is None or self._silence_task is not None:
            return
        self._silence_task = self.create_task(self._remind_after_silence(), "silence")

    async def _cancel_silence_timer(self) -> None:
        task, self._silence_task = self._silence_task, None
        if task is not None and task is not asyncio.current_task():
            await self.cancel_task(task)

    async def _remind_after_silence(self) -> None:
        assert self._silence_timeout_secs is not None
        await asyncio.sleep(self._silence_timeout_secs)
        self._silence_task = None
        self._reminders_in_a_row += 1
        await self._respond(reminder=True)
