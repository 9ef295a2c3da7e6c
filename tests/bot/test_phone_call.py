"""Real audio, no keys: drivers phone the bot over Twilio's media-stream protocol.

The bot process runs with no account (Whisper hears, the Piper voice speaks); the voice server
starts each session as the Streamlit app does; this test plays Twilio's side with the driver's
lines spoken by espeak-ng as 8 kHz mu-law, paced in real time, and listens to the bot between
them. The saved calls must carry what the drivers said: the location, the ETA, the outcome, for
a check-in and then an emergency on the one bot, each recorded with its voice latency.
"""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from bench.phone_caller import FRAME_SECS, PhoneCall
from db.models import Call
from tests.bot.conftest import start_pipecat_session
from tests.conftest import free_port
from tests.voice_server.conftest import RunningServer


@dataclass(frozen=True)
class DriverScript:
    context: dict[str, str]
    lines: tuple[str, ...]


CHECK_IN = DriverScript(
    context={
        "driver_name": "Maria Lopez",
        "driver_phone": "+14155550123",
        "load_number": "7731",
        "origin": "Oklahoma City, OK",
        "destination": "Albuquerque, NM",
        "appointment": "6 PM",
    },
    lines=(
        "I'm driving on I 40 near Amarillo. I should be there around 4 PM.",
        # Said only while the call goes on, i.e. when the agent still asks: drivers repeat
        # themselves on a bad line, and Whisper tiny.en mishears espeak-ng now and then.
        "I'm on I 40 near Amarillo.",
        "Around 4 PM.",
    ),
)
EMERGENCY = DriverScript(
    context={
        "driver_name": "Tom Becker",
        "driver_phone": "+14155550188",
        "load_number": "A-2231",
        "origin": "Memphis, TN",
        "destination": "Amarillo, TX",
        "appointment": "Friday 10 AM",
    },
    lines=(
        "My truck broke down near Oklahoma City, at mile marker 125. I am on the shoulder.",
        "No, I'm not hurt.",
        "Yes, it is secure.",
        "Mile marker 125 near Oklahoma City.",
        "No, I'm not hurt.",
        "Yes, it is secure.",
    ),
)


async def phone_in(
    voice: RunningServer, script: DriverScript, *, burst_secs: float = FRAME_SECS
) -> tuple[PhoneCall, Call]:
    started = start_pipecat_session(voice.url, mode="phone", **script.context)
    call = PhoneCall(
        started["join_url"], started["details"]["stream_parameters"], burst_secs=burst_secs
    )
    async with call:
        assert await call.listen(), "the agent greets the driver"
        for line in script.lines:
            if not call.is_open:
                break
            await call.say(line)
            await call.listen()
        await call.wait_for_hang_up()
    deadline = time.monotonic() + 30
    saved = voice.store.get_call(started["provider_call_id"])
    while (
        saved is None or saved.status != "ended" or saved.recording_url is None
    ) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        saved = voice.store.get_call(started["provider_call_id"])
    assert saved is not None and saved.status == "ended"
    return call, saved


# Whisper tiny.en mishears espeak-ng's voice now and then (more often on a loaded 2-core
# machine): one more call is allowed; a repeatable failure still fails.
@pytest.mark.flaky(reruns=1)
async def test_a_check_in_and_an_emergency_phoned_in_with_real_audio_are_saved_right(
    start_server: Callable[..., RunningServer],
    bot_process: Callable[..., str],
    tmp_path: Path,
) -> None:
    bot_port = free_port()
    voice = start_server(bot_url=f"http://127.0.0.1:{bot_port}")
    await asyncio.to_thread(bot_process, voice_server_url=voice.url, port=bot_port)
    log = (tmp_path / f"bot-{bot_port}.log").read_text()
    assert "Loading the offline speech models (the first start takes a few seconds)" in log

    # One after the other: Whisper on a shared 2-core machine is the bottleneck, and two calls
    # at once are the benchmark's business (bench/voice_bench.py), not this test's.
    check_in_call, check_in = await phone_in(voice, CHECK_IN)
    # The emergency comes over a jittery line: the driver's audio arrives in 300 ms bursts, as it
    # does on a congested mobile network, and the bot must still hear every word of it.
    emergency_call, emergency = await phone_in(voice, EMERGENCY, burst_secs=0.3)

    assert check_in.call_type == "twilio"
    result = check_in.structured or {}
    assert result["call_outcome"] == "In-Transit Update", check_in.transcript
    assert result["current_location"] == "I-40 near Amarillo", check_in.transcript
    assert result["eta"] == "4 pm", check_in.transcript
    assert check_in_call.closed_by_bot, "the agent ends the call once it has the update"

    result = emergency.structured or {}
    assert result["call_outcome"] == "Emergency Escalation", "\n".join(
        f"{t['role']}: {t['content']}" for t in emergency.transcript
    )
    assert result["emergency_type"] == "Breakdown", emergency.transcript
    assert "Oklahoma City" in (result["emergency_location"] or ""), emergency.transcript
    assert result["injury_status"] == "No injuries", emergency.transcript
    assert result["load_secure"] is True, emergency.transcript

    for call, saved in ((check_in_call, check_in), (emergency_call, emergency)):
        # The call's recording: driver on the left channel, the bot on the right.
        assert saved.recording_url and saved.recording_url.startswith("file://")
        path = Path(unquote(urlparse(saved.recording_url).path))
        assert path.parent == tmp_path / "recordings"
        with wave.open(str(path)) as recording:
            assert recording.getnchannels() == 2
            frames = np.frombuffer(
                recording.readframes(recording.getnframes()), dtype=np.int16
            ).reshape(-1, 2)
            assert recording.getnframes() / recording.getframerate() > 5
        driver, bot = np.abs(frames[:, 0]).max(), np.abs(frames[:, 1]).max()
        assert driver > 1000 and bot > 1000, "both sides were heard and recorded"
        heard = [t.latency_secs for t in call.turns if t.latency_secs is not None]
        assert heard, "the bot answered the driver's speech with audio"
        # Voice latency in Retell's stored shape, with each answered turn's breakdown.
        latency = saved.latency or {}
        for part in ("e2e", "asr", "llm", "tts"):
            assert latency[f"{part}_p50_ms"] <= latency[f"{part}_p90_ms"], latency
        turns = latency["turns"]
        assert 1 <= len(turns) <= len(call.turns), latency
        assert all(t["asr"] + t["llm"] + t["tts"] <= t["e2e"] + 1 for t in turns), turns
        assert all(t["asr"] > 0 and t["tts"] > 0 for t in turns), turns
