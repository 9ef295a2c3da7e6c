"""AGENT_LLM=openai: an OpenAI-compatible Chat Completions model drives the conversation.

The one module of `agent` that does I/O. Tokens are streamed (SSE) and handed on sentence by
sentence as soon as each sentence is complete. The model decides to end or transfer the call
through two tools, `end_call` and `transfer_to_dispatcher`.

Kept deterministic on purpose:
- the structured result and analysis (`extract_result`, `analyze`) are the same for both
  policies: they read the transcript, whoever wrote the agent's side;
- reminders (silence) are answered by the fallback policy, so three in a row always end the call;
- safety net: when the rules agent would hand an emergency to a human on this turn, the call is
  transferred even if the model did not ask for it.
A timeout (`timeout_secs` until the first sentence, and between chunks after that) or any HTTP
or protocol error falls back to the fallback policy for that turn. If part of the model's
answer was already spoken, the turn is closed with the fallback's end/transfer decision, in a
last part with empty text (a half sentence is never sent).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.policy import Policy, ReplyPart, RulesPolicy, rules_reply
from agent.types import CallContext, Turn
from agent.vocabulary import CallOutcome, DriverStatus, EmergencyType

_RULES = RulesPolicy()
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TRANSFER_LINE = "I'm connecting you to a human dispatcher now, please stay on the line."
_GOODBYE_LINE = "Thanks, drive safe."

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "end_call",
            "description": "Hang up after your reply: the check-in is complete, or the driver "
            "will not give an update after three tries.",
            "parameters": {
                "type": "object",
                "properties": {"reason": {"type": "string"}},
                "required": ["reason"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "transfer_to_dispatcher",
            "description": "Hand the call to a human dispatcher after your reply: an emergency "
            "once safety and location are known, or at once if anyone is hurt or in danger.",
            "parameters": {
                "type": "object",
                "properties": {
                    "emergency_type": {"type": "string", "enum": [e.value for e in EmergencyType]}
                },
                "required": ["emergency_type"],
            },
        },
    },
]


def tools_for(context: CallContext) -> list[dict[str, Any]]:
    """Without a transfer line the model is not offered a transfer it cannot make."""
    if context.has_transfer_line:
        return TOOLS
    return [tool for tool in TOOLS if tool["function"]["name"] != "transfer_to_dispatcher"]


class CompletionError(RuntimeError):
    """The Chat Completions endpoint answered with an error or something unreadable."""


def system_prompt(context: CallContext) -> str:
    facts = {
        "driver": context.driver_name,
        "load number": context.load_number,
        "origin": context.origin,
        "destination": context.destination,
        "appointment": context.appointment,
    }
    known = "\n".join(f"- {k}: {v}" for k, v in facts.items() if v) or "- (no load details)"
    return (
        "You are Dispatch, a freight dispatcher's voice assistant on a phone check call with a "
        "truck driver. Speak in short, plain sentences (this is read aloud); ask one thing at a "
        "time.\n"
        f"Call details:\n{known}\n"
        "Check-in: learn the driver's status "
        f"({', '.join(s.value for s in DriverStatus)}), current location and ETA; if delayed, "
        "the reason; if arrived, the unloading status (door, waiting, lumper, detention) and "
        "remind them to send the signed POD. Ask only for what is missing, confirm in one short "
        "sentence, then call end_call.\n"
        "Emergency at any moment (accident, breakdown, medical, theft or threat): ask whether "
        "they are safe, whether anyone is hurt, the exact location, whether the load is secure; "
        f"{_handoff_instruction(context)} A crash they only saw, or a tire already fixed, is a "
        "delay, not an emergency.\n"
        "Answer questions about the load from the call details. If the driver stays evasive, "
        "offer specific options at most three times, then end politely with end_call.\n"
        f"Outcomes are recorded as: {', '.join(o.value for o in CallOutcome)}."
    )


def _handoff_instruction(context: CallContext) -> str:
    if context.has_transfer_line:
        return (
            "say a human dispatcher is being connected and call transfer_to_dispatcher once "
            "safety and location are known, or at once if anyone is hurt or in danger."
        )
    callback = (
        f"they will be called back at {context.callback_number}"
        if context.callback_number
        else "ask once for the best number to call them back on"
    )
    return (
        "this call has NO transfer line: never say you are connecting or transferring anyone. "
        "Once safety and location are known (at once if anyone is hurt or in danger) say: "
        '"I\'ve alerted the dispatch office, and a dispatcher will call you back right away", '
        f"tell them to call 911 first if anyone is hurt or in danger, {callback}, then say "
        "goodbye and call end_call."
    )


def chat_messages(context: CallContext, transcript: Sequence[Turn]) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system_prompt(context)}]
    for turn in transcript:
        role = "assistant" if turn.role == "agent" else "user"
        messages.append({"role": role, "content": turn.content})
    return messages


@dataclass
class _Decision:
    """Tool calls assembled from streamed fragments."""

    names: dict[int, str] = field(default_factory=dict)

    def add(self, tool_calls: list[dict[str, Any]]) -> None:
        for call in tool_calls:
            index = int(call.get("index", 0))
            name = (call.get("function") or {}).get("name")
            if name:
                self.names[index] = self.names.get(index, "") + name

    @property
    def transfer(self) -> bool:
        return "transfer_to_dispatcher" in self.names.values()

    @property
    def end(self) -> bool:
        return "end_call" in self.names.values()


@dataclass
class _Sentences:
    """Cuts streamed text into whole sentences."""

    buffer: str = ""

    def feed(self, text: str) -> list[str]:
        self.buffer += text
        pieces = _SENTENCE_END.split(self.buffer)
        self.buffer = pieces.pop()
        return [p.strip() for p in pieces if p.strip()]

    def flush(self) -> str:
        rest, self.buffer = self.buffer.strip(), ""
        return rest


class OpenAIPolicy:
    """Streams replies from an OpenAI-compatible `/chat/completions` endpoint."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        timeout_secs: float,
        fallback: Policy = _RULES,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout_secs = timeout_secs
        self.fallback = fallback
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_secs),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"OpenAIPolicy(url={self.url!r}, model={self.model!r})"

    async def _chunks(
        self, context: CallContext, transcript: Sequence[Turn]
    ) -> AsyncIterator[dict[str, Any]]:
        body = {
            "model": self.model,
            "stream": True,
            "messages": chat_messages(context, transcript),
            "tools": tools_for(context),
            "tool_choice": "auto",
            "temperature": 0.2,
        }
        async with self._client.stream("POST", self.url, json=body) as response:
            if response.status_code != 200:
                detail = (await response.aread())[:200].decode(errors="replace")
                raise CompletionError(f"chat completions answered {response.status_code}: {detail}")
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                try:
                    chunk = json.loads(payload)
                except json.JSONDecodeError as exc:
                    raise CompletionError(f"unreadable stream chunk: {payload[:80]!r}") from exc
                if "error" in chunk:
                    raise CompletionError(f"stream error: {chunk['error']}")
                for choice in chunk.get("choices") or []:
                    yield choice.get("delta") or {}

    async def stream(
        self, context: CallContext, transcript: Sequence[Turn], reminders_in_a_row: int = 0
    ) -> AsyncIterator[ReplyPart]:
        if reminders_in_a_row > 0 or not any(t.role == "user" for t in transcript):
            async for part in self.fallback.stream(context, transcript, reminders_in_a_row):
                yield part
            return
        guard = rules_reply(context, transcript)  # pure and cheap: the emergency safety net
        deltas = self._chunks(context, transcript)
        sentences, decision = _Sentences(), _Decision()
        spoken = 0
        failed = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_secs
        try:
            while True:
                try:
                    if spoken:
                        delta = await anext(deltas)  # httpx's read timeout bounds each gap
                    else:
                        delta = await asyncio.wait_for(
                            anext(deltas), max(0.0, deadline - loop.time())
                        )
                except StopAsyncIteration:
                    break
                decision.add(delta.get("tool_calls") or [])
                for sentence in sentences.feed(delta.get("content") or ""):
                    spoken += 1
                    yield ReplyPart(text=sentence, last=False)
        except (TimeoutError, httpx.HTTPError, CompletionError, AttributeError, TypeError):
            failed = True
        finally:
            await deltas.aclose()

        if failed and not spoken:
            async for part in self.fallback.stream(context, transcript):
                yield part
            return
        if failed:
            yield ReplyPart(
                text="",
                last=True,
                end_call=guard.end_call,
                transfer_number=guard.transfer_number,
                alert_office=guard.alert_office,
            )
            return

        transfer = decision.transfer or guard.transfer_number is not None
        end_call = decision.end and not transfer
        tail = [s for s in (sentences.flush(),) if s]
        if transfer and not decision.transfer:
            tail.append(_TRANSFER_LINE)  # the model missed an emergency the rules caught
        if not spoken and not tail:
            tail.append(_TRANSFER_LINE if transfer else _GOODBYE_LINE if end_call else "")
            if not tail[-1]:  # an empty answer with no decision: let the rules speak
                async for part in self.fallback.stream(context, transcript):
                    yield part
                return
        final_number = (context.transfer_number or None) if transfer else None
        alert_office = guard.alert_office or transfer
        for index, text in enumerate(tail):
            last = index == len(tail) - 1
            yield ReplyPart(
                text=text,
                last=last,
                end_call=end_call if last else False,
                transfer_number=final_number if last else None,
                alert_office=alert_office if last else False,
            )
        if not tail:
            yield ReplyPart(
                text="",
                last=True,
                end_call=end_call,
                transfer_number=final_number,
                alert_office=alert_office,
            )
