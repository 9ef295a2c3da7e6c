"""OpenAIPolicy against a real local OpenAI-compatible server that streams SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest

from agent import ReplyPart, RulesPolicy, Turn, make_policy, next_reply, opening
from agent.openai_policy import OpenAIPolicy
from bench import agent_bench
from tests.agent.openai_double import ChatCompletionsDouble, running_double
from tests.conftest import free_port

CONTEXT = replace(agent_bench.CONTEXT, appointment=None)
CHECK_IN = [Turn("agent", opening(CONTEXT).text), Turn("user", "yeah i'm on i 40 near amarillo")]
EMERGENCY = [
    Turn("agent", opening(CONTEXT).text),
    Turn("user", "i just got in a wreck on i 40 and my leg is hurt bad"),
]
TIMEOUT_SECS = 0.5


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ChatCompletionsDouble, str]]:
    yield from running_double(free_port(), slow_secs=3 * TIMEOUT_SECS)


@pytest.fixture
async def make(server: tuple[ChatCompletionsDouble, str]) -> AsyncIterator[object]:
    made: list[OpenAIPolicy] = []

    def build(model: str) -> OpenAIPolicy:
        policy = OpenAIPolicy(
            base_url=server[1], api_key="sk-test", model=model, timeout_secs=TIMEOUT_SECS
        )
        made.append(policy)
        return policy

    yield build
    for policy in made:
        await policy.aclose()


async def collect(
    policy: OpenAIPolicy, transcript: list[Turn], reminders: int = 0
) -> list[ReplyPart]:
    return [part async for part in policy.stream(CONTEXT, transcript, reminders)]


async def rules_parts(transcript: list[Turn], reminders: int = 0) -> list[ReplyPart]:
    return [part async for part in RulesPolicy().stream(CONTEXT, transcript, reminders)]


async def test_streams_the_model_sentence_by_sentence(make, server) -> None:
    double, _ = server
    parts = await collect(make("talk"), CHECK_IN)
    assert [p.text for p in parts] == ["Thanks for the update.", "What's your ETA to Phoenix?"]
    assert [p.last for p in parts] == [False, True]
    assert not parts[-1].end_call and parts[-1].transfer_number is None
    request = double.requests[-1]
    assert request["authorization"] == "Bearer sk-test"
    assert request["body"]["stream"] is True
    assert [m["role"] for m in request["body"]["messages"]] == ["system", "assistant", "user"]
    assert "Mike Johnson" in request["body"]["messages"][0]["content"]
    assert {t["function"]["name"] for t in request["body"]["tools"]} == {
        "end_call",
        "transfer_to_dispatcher",
    }


async def test_end_call_tool_ends_the_call_on_the_last_part(make) -> None:
    parts = await collect(make("finish"), CHECK_IN)
    assert parts[-1].last and parts[-1].end_call and parts[-1].transfer_number is None
    assert parts[-1].text == "Drive safe."


async def test_transfer_tool_hands_over_to_the_context_number(make) -> None:
    parts = await collect(make("transfer"), CHECK_IN)
    assert parts[-1].transfer_number == "+15550100200" and not parts[-1].end_call


async def test_a_tool_call_without_text_still_says_a_dispatcher_is_coming(make) -> None:
    parts = await collect(make("silent-transfer"), CHECK_IN)
    assert "human dispatcher" in parts[-1].text
    assert parts[-1].transfer_number == "+15550100200"


async def test_an_emergency_the_model_misses_is_still_transferred(make) -> None:
    parts = await collect(make("talk"), EMERGENCY)
    assert parts[-1].transfer_number == "+15550100200"
    assert "human dispatcher" in parts[-1].text


@pytest.mark.parametrize("model", ["fail", "garbage", "slow"])
async def test_errors_and_timeouts_fall_back_to_the_rules_for_that_turn(make, model: str) -> None:
    parts = await collect(make(model), CHECK_IN)
    assert parts == await rules_parts(CHECK_IN)
    assert " ".join(p.text for p in parts) == next_reply(CONTEXT, CHECK_IN).text


async def test_unreachable_server_falls_back_to_the_rules() -> None:
    policy = OpenAIPolicy(
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        api_key="sk-test",
        model="talk",
        timeout_secs=TIMEOUT_SECS,
    )
    try:
        assert await collect(policy, EMERGENCY) == await rules_parts(EMERGENCY)
    finally:
        await policy.aclose()


async def test_a_stream_cut_midway_closes_the_turn_with_the_rules_decision(make) -> None:
    parts = await collect(make("drop"), EMERGENCY)
    assert [p.text for p in parts] == ["Thanks for the update.", ""]  # no half sentence spoken
    assert parts[-1].last and parts[-1].transfer_number == "+15550100200"


async def test_reminders_are_answered_deterministically(make, server) -> None:
    double, _ = server
    before = len(double.requests)
    parts = await collect(make("talk"), CHECK_IN, reminders=3)
    assert parts == await rules_parts(CHECK_IN, 3) and parts[-1].end_call
    assert len(double.requests) == before


async def test_make_policy_builds_the_openai_policy_from_settings_values(server) -> None:
    policy = make_policy(
        "openai",
        openai_base_url=server[1],
        openai_api_key="sk-test",
        openai_model="talk",
        openai_timeout_secs=TIMEOUT_SECS,
    )
    assert isinstance(policy, OpenAIPolicy)
    try:
        parts = [p async for p in policy.stream(CONTEXT, CHECK_IN)]
        assert parts[0].text == "Thanks for the update."
    finally:
        await policy.aclose()
