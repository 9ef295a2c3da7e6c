"""The agent's public contract, as the voice server and the Pipecat bot use it."""

from __future__ import annotations

import pytest

import agent
from agent import (
    CallContext,
    CallOutcome,
    Policy,
    ReplyPart,
    RulesPolicy,
    Turn,
    UnknownPolicyError,
    extract_result,
    make_policy,
    next_reply,
    opening,
    reminder_reply,
)
from bench.agent_bench import CONTEXT


def test_opening_greets_by_first_name_names_the_load_and_asks_for_status() -> None:
    reply = opening(CONTEXT)
    assert reply.sentences[0].startswith("Hi Mike,")
    assert "7891-B" in reply.text
    assert "status update" in reply.sentences[-1]
    assert not reply.end_call and reply.transfer_number is None


def test_opening_works_without_any_context() -> None:
    reply = opening(CallContext())
    assert reply.sentences[0].startswith("Hi,")
    assert "None" not in reply.text
    assert reply.text.endswith("?")


def test_same_context_and_transcript_give_the_same_reply_and_result() -> None:
    transcript = [
        Turn("agent", opening(CONTEXT).text),
        Turn("user", "yeah i'm on i 40 near amarillo running a bit late cause of construction"),
    ]
    assert next_reply(CONTEXT, transcript) == next_reply(CONTEXT, list(transcript))
    assert extract_result(CONTEXT, transcript) == extract_result(CONTEXT, tuple(transcript))


def test_empty_transcript_gets_the_opening() -> None:
    assert next_reply(CONTEXT, []) == opening(CONTEXT)


def test_reminders_nudge_twice_then_end_the_call_as_incomplete() -> None:
    transcript = [Turn("agent", opening(CONTEXT).text)]
    for count in (1, 2):
        reply = reminder_reply(CONTEXT, transcript, count)
        assert not reply.end_call
        transcript.append(Turn("agent", reply.text))
    final = reminder_reply(CONTEXT, transcript, 3)
    assert final.end_call
    transcript.append(Turn("agent", final.text))
    assert extract_result(CONTEXT, transcript).call_outcome is CallOutcome.INCOMPLETE


async def test_rules_policy_streams_one_part_per_sentence_with_the_decision_last() -> None:
    transcript = [
        Turn("agent", opening(CONTEXT).text),
        Turn("user", "i just got in a wreck, hit a car, my leg is hurt bad"),
    ]
    policy: Policy = RulesPolicy()
    parts = [part async for part in policy.stream(CONTEXT, transcript)]
    expected = next_reply(CONTEXT, transcript)
    assert [p.text for p in parts] == list(expected.sentences)
    assert [p.last for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].transfer_number == "+15550100200"
    assert all(p.transfer_number is None and not p.end_call for p in parts[:-1])
    assert isinstance(parts[0], ReplyPart)


async def test_rules_policy_answers_reminders_when_asked_to() -> None:
    transcript = [Turn("agent", opening(CONTEXT).text)]
    parts = [part async for part in RulesPolicy().stream(CONTEXT, transcript, 3)]
    assert parts[-1].end_call


def test_make_policy_builds_rules_by_default_and_rejects_unknown_names() -> None:
    assert isinstance(make_policy("rules"), RulesPolicy)
    with pytest.raises(UnknownPolicyError, match="AGENT_LLM"):
        make_policy("gpt")
    with pytest.raises(UnknownPolicyError, match="OPENAI_API_KEY"):
        make_policy("openai", openai_api_key=None)


def test_public_names_are_exported() -> None:
    for name in (
        "opening",
        "next_reply",
        "reminder_reply",
        "extract_result",
        "analyze",
        "DEFAULT_KEYWORDS",
        "ReplyPart",
        "Policy",
        "RulesPolicy",
        "make_policy",
    ):
        assert hasattr(agent, name), name
