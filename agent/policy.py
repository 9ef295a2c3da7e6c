"""Policies stream the agent's reply sentence by sentence, for both voice engines.

A policy answers `stream(context, transcript, reminders_in_a_row)` with one `ReplyPart` per
sentence, first sentence first, so the edge can speak the first one at once; the last part has
`last=True` and carries the call decision (`end_call` / `transfer_number` / `alert_office`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agent.rules import next_reply, reminder_reply
from agent.types import CallContext, Reply, Turn


@dataclass(frozen=True, slots=True)
class ReplyPart:
    text: str
    last: bool
    end_call: bool = False
    transfer_number: str | None = None
    alert_office: bool = False


@runtime_checkable
class Policy(Protocol):
    def stream(
        self, context: CallContext, transcript: Sequence[Turn], reminders_in_a_row: int = 0
    ) -> AsyncIterator[ReplyPart]: ...


def reply_parts(reply: Reply) -> Iterator[ReplyPart]:
    """A whole reply as parts: one per sentence, the decision on the last one."""
    sentences = reply.sentences or ("",)
    for index, sentence in enumerate(sentences):
        last = index == len(sentences) - 1
        yield ReplyPart(
            text=sentence,
            last=last,
            end_call=reply.end_call if last else False,
            transfer_number=reply.transfer_number if last else None,
            alert_office=reply.alert_office if last else False,
        )


def rules_reply(
    context: CallContext, transcript: Sequence[Turn], reminders_in_a_row: int = 0
) -> Reply:
    if reminders_in_a_row > 0:
        return reminder_reply(context, transcript, reminders_in_a_row)
    return next_reply(context, transcript)


class RulesPolicy:
    """The deterministic agent behind the Policy interface (no I/O, nothing awaited)."""

    def reply(
        self, context: CallContext, transcript: Sequence[Turn], reminders_in_a_row: int = 0
    ) -> Reply:
        return rules_reply(context, transcript, reminders_in_a_row)

    async def stream(
        self, context: CallContext, transcript: Sequence[Turn], reminders_in_a_row: int = 0
    ) -> AsyncIterator[ReplyPart]:
        for part in reply_parts(rules_reply(context, transcript, reminders_in_a_row)):
            yield part

    def __repr__(self) -> str:
        return "RulesPolicy()"


class UnknownPolicyError(ValueError):
    """AGENT_LLM names a policy that does not exist."""


def make_policy(
    agent_llm: str,
    *,
    openai_base_url: str = "https://api.openai.com/v1",
    openai_api_key: Any = None,
    openai_model: str = "gpt-4o-mini",
    openai_timeout_secs: float = 4.0,
) -> Policy:
    """Build the policy that settings ask for: "rules" (default) or "openai".

    `openai_api_key` may be a plain string or a pydantic SecretStr.
    """
    if agent_llm == "rules":
        return RulesPolicy()
    if agent_llm == "openai":
        key = openai_api_key
        if hasattr(key, "get_secret_value"):
            key = key.get_secret_value()
        if not key:
            raise UnknownPolicyError("AGENT_LLM=openai needs OPENAI_API_KEY (or AGENT_LLM=rules).")
        from agent.openai_policy import OpenAIPolicy  # httpx is imported only when needed

        return OpenAIPolicy(
            base_url=openai_base_url,
            api_key=str(key),
            model=openai_model,
            timeout_secs=openai_timeout_secs,
        )
    raise UnknownPolicyError(f"AGENT_LLM must be 'rules' or 'openai', not {agent_llm!r}.")
