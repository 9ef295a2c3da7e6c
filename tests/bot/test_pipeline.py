"""The dispatch agent inside a real Pipecat pipeline, and what the SessionObserver reports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from pipecat.frames.frames import InterruptionFrame

from bot.observer import event_id
from tests.bot.conftest import SAMPLE_RATE, BotCall


async def test_a_check_in_runs_to_the_end_and_the_summary_says_what_happened(
    make_call: Callable[..., BotCall],
) -> None:
    call = make_call("pc_checkin")
    await call.answer()

    await call.driver_says("I'm driving on I-35 near San Antonio, there's a lot of traffic.")
    await call.driver_says("I should get there around 6 PM, this traffic has me two hours late.")
    for answer in ("Traffic on the interstate.", "Yes, I'll send the POD.", "Yes.", "Yes."):
        if call.finished.is_set() or call.session.agent._ending:
            break
        await call.driver_says(answer)
    await call.wait_finished()

    event = call.summary_event()
    summary = event["data"]
    assert event["provider_call_id"] == "pc_checkin"
    assert event["event_id"] == event_id("pc_checkin", "session_summary")
    assert summary["end_reason"] == "end"  # the agent ended the call itself
    transcript = summary["transcript"]
    assert transcript[0]["role"] == "agent" and "Maria" in transcript[0]["content"]
    assert transcript[1] == {
        "role": "user",
        "content": "I'm driving on I-35 near San Antonio, there's a lot of traffic.",
    }
    assert [t["role"] for t in transcript] == ["agent", "user"] * (len(transcript) // 2) + (
        ["agent"] if len(transcript) % 2 else []
    )
    assert summary["turns"] == {
        "user": sum(t["role"] == "user" for t in transcript),
        "bot": sum(t["role"] == "agent" for t in transcript),
    }
    assert summary["keyword_hits"]["traffic"] >= 2
    assert "traffic" in summary["keywords"]
    assert summary["interruptions"] == 0
    structured = summary["structured"]
    assert structured["call_outcome"] == "In-Transit Update"
    assert structured["driver_status"] == "Delayed"
    assert "San Antonio" in (structured["current_location"] or "")
    assert structured["delay_reason"]
    assert summary["tokens"] > 0  # from the agent processor's usage MetricsFrames
    assert "DispatchAgentProcessor" in " ".join(summary["latency"]["ttfb_ms"])
    assert summary["duration_secs"] > 0
    assert summary["speaking_secs"]["user"] > 0 and summary["speaking_secs"]["bot"] > 0
    assert summary["context"]["load_number"] == "7731"
    assert summary["context"]["transport"] == "webrtc"
    # The agent's replies were spoken: real audio at the pipeline's output rate.
    assert call.tap.audio and {f.sample_rate for f in call.tap.audio} == {SAMPLE_RATE}


async def test_an_emergency_with_a_barge_in_is_escalated_and_the_barge_in_counted_once(
    make_call: Callable[..., BotCall],
) -> None:
    call = make_call("pc_emergency")
    await call.answer()

    # The driver talks over the agent's next question: one barge-in.
    await call.driver_says("Yeah I'm rolling, near Waco on I-35.", then_bot_speaks=False)
    await call.bot_speaks(stop=False)
    await call.driver_says(
        "Hold on, I just had an accident, a car hit my trailer.", then_bot_speaks=False
    )
    await call.bot_stops()
    # Every user turn broadcasts an InterruptionFrame, bot speaking or not: not a barge-in.
    await call.worker.queue_frame(InterruptionFrame())
    await call.bot_speaks()
    for answer in (
        "Yes I'm safe on the shoulder.",
        "Nobody is hurt.",
        "I-35 southbound at mile marker 331 near Waco.",
        "Yes the load is secure.",
        "Call me on 214 555 0199.",
    ):
        if call.session.agent._ending:
            break
        await call.driver_says(answer)
    await call.wait_finished()

    summary = call.summary_event()["data"]
    assert summary["interruptions"] == 1
    assert summary["interrupted_turns"] >= 1  # Pipecat's count of turns cut short
    assert summary["conversation_turns"] > summary["interrupted_turns"]
    structured = summary["structured"]
    assert structured["call_outcome"] == "Emergency Escalation"
    assert structured["emergency_type"] == "Accident"
    # A WebRTC session has no line to transfer: the office calls back, nobody is "connected".
    assert structured["escalation_status"] == "Callback Requested"
    assert structured["load_secure"] is True
    assert "331" in (structured["emergency_location"] or "")
    assert "accident" in summary["keyword_hits"]
    last_agent = [t for t in summary["transcript"] if t["role"] == "agent"][-1]["content"]
    assert "call you back" in last_agent.lower() and "214 555 0199" in last_agent
    agent_lines = " ".join(t["content"] for t in summary["transcript"] if t["role"] == "agent")
    assert "connecting" not in agent_lines.lower()
    # A WebRTC session cannot dial out: the agent's callback goodbye ends the session.
    assert summary["end_reason"] == "end"


async def test_silence_brings_reminders_and_then_the_agent_ends_the_call(
    make_call: Callable[..., BotCall],
) -> None:
    call = make_call("pc_silence", silence_timeout_secs=0.2)
    await call.answer()

    replies = 1
    while not call.session.agent._ending:
        await call.wait_for_replies(replies + 1)
        replies += 1
        await call.bot_speaks()
    await call.wait_finished()

    summary = call.summary_event()["data"]
    agent_lines = [t["content"] for t in summary["transcript"] if t["role"] == "agent"]
    assert summary["turns"]["user"] == 0
    assert "still there" in agent_lines[1].lower()
    assert len(agent_lines) >= 3
    assert summary["structured"]["call_outcome"] == "Incomplete"
    assert summary["interruptions"] == 0


async def test_a_hang_up_mid_call_still_sends_exactly_one_summary(
    make_call: Callable[..., BotCall],
) -> None:
    call = make_call("pc_hangup")
    await call.answer()
    await call.driver_says("Driving near Austin.")

    await call.hang_up()
    await call.wait_finished()
    # Every other way the session can end asks again: still one summary.
    await call.session.observer.finish("client_disconnected")
    await call.session.observer.cleanup()

    events = call.spooled()
    assert [e["event_type"] for e in events] == ["session_started", "session_summary"]
    summary = events[1]["data"]
    assert summary["end_reason"] == "end"
    assert summary["structured"]["driver_status"] == "Driving"
    assert "Austin" in (summary["structured"]["current_location"] or "")
    assert summary["transcript"][-1]["role"] == "agent"


@pytest.mark.parametrize("text", ["Hello driver. Where are you right now?", "OK."])
async def test_espeak_speaks_real_pcm_at_the_pipeline_rate(text: str) -> None:
    from pipecat.frames.frames import TTSAudioRawFrame, TTSSpeakFrame, TTSTextFrame
    from pipecat.pipeline.worker import PipelineParams
    from pipecat.tests.utils import run_test

    from bot.tts_espeak import EspeakTTSService

    down, _ = await run_test(
        EspeakTTSService(),
        frames_to_send=[TTSSpeakFrame(text)],
        pipeline_params=PipelineParams(audio_out_sample_rate=SAMPLE_RATE),
    )

    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    pcm = b"".join(f.audio for f in audio)
    assert {f.sample_rate for f in audio} == {SAMPLE_RATE}
    assert {f.num_channels for f in audio} == {1}
    # Speech, not silence: at least a quarter second of 16-bit samples, many non-zero.
    assert len(pcm) >= SAMPLE_RATE // 2
    samples = memoryview(pcm).cast("h")
    assert sum(1 for s in samples if abs(s) > 500) > len(samples) // 20
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == [text]
    await asyncio.sleep(0)
