"""The dispatch agent: a pure function of (call context, transcript).

Public API used by the voice server (Retell) and the Pipecat bot:
- `opening`, `next_reply`, `reminder_reply`: what to say, and whether to end or transfer;
- `extract_result`: the structured result so far; `analyze`: call analytics;
  `reply_and_result`: both of the first at the cost of one reading of the transcript;
- `Policy` / `ReplyPart` / `RulesPolicy` / `make_policy`: replies streamed sentence by sentence
  (`agent.openai_policy.OpenAIPolicy` drives the conversation with an LLM when AGENT_LLM=openai).

The transfer number is DISPATCH_TRANSFER_NUMBER, supplied by the edge in
`CallContext.transfer_number` only when the call can really be transferred; the agent copies it
into `Reply.transfer_number` when it escalates. Without it the agent offers a callback and ends
the call; `Reply.alert_office` tells the edge to raise the office's alert at the hand-off.
"""

from agent.analysis import DEFAULT_KEYWORDS, analyze
from agent.policy import (
    Policy,
    ReplyPart,
    RulesPolicy,
    UnknownPolicyError,
    make_policy,
    reply_parts,
)
from agent.result import extract_result, reply_and_result
from agent.rules import next_reply, opening, reminder_reply
from agent.types import Analysis, CallContext, CallResult, Reply, Transcript, Turn, transcript_from
from agent.vocabulary import CallOutcome, DriverStatus, EmergencyType, EscalationStatus

__all__ = [
    "DEFAULT_KEYWORDS",
    "Analysis",
    "CallContext",
    "CallOutcome",
    "CallResult",
    "DriverStatus",
    "EmergencyType",
    "EscalationStatus",
    "Policy",
    "Reply",
    "ReplyPart",
    "RulesPolicy",
    "Transcript",
    "Turn",
    "UnknownPolicyError",
    "analyze",
    "extract_result",
    "make_policy",
    "next_reply",
    "opening",
    "reminder_reply",
    "reply_and_result",
    "reply_parts",
    "transcript_from",
]


def __getattr__(name: str) -> object:
    if name == "OpenAIPolicy":
        from agent.openai_policy import OpenAIPolicy

        return OpenAIPolicy
    raise AttributeError(name)
