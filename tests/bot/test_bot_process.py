"""The real bot process (`python -m bot`): a Twilio media stream and a WebRTC browser, end to end.

voice server `POST /api/v1/voice/start` (phone) -> the bot registers the session -> "Twilio"
(this test) opens the media stream with the session parameter -> the agent greets the driver
in espeak-ng audio (mu-law media messages) -> the driver hangs up -> the session summary lands
in the voice server's store. Deepgram is a local WebSocket double that accepts the audio and
stays silent (the cloud is unreachable here). The WebRTC session runs with no keys at all.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable

import av
import httpx
import pytest
import websockets
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from bench.phone_caller import PhoneCall
from tests.bot.conftest import ended_call, start_pipecat_session
from tests.conftest import free_port
from tests.voice_server.conftest import RunningServer

MULAW_SILENCE = {0xFF, 0x7F}


@pytest.fixture
async def deepgram_double() -> object:
    """Accepts Deepgram's streaming endpoint (`/v1/listen`) and the audio sent to it."""
    received: list[int] = []

    async def listen(socket: websockets.ServerConnection) -> None:
        async for message in socket:
            received.append(len(message))

    async with websockets.serve(listen, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}", received


async def test_a_phone_session_greets_the_driver_over_twilio_and_reports_the_call(
    start_server: Callable[..., RunningServer],
    bot_process: Callable[..., str],
    deepgram_double: tuple[str, list[int]],
) -> None:
    deepgram_url, deepgram_audio = deepgram_double
    bot_port = free_port()
    voice = start_server(bot_url=f"http://127.0.0.1:{bot_port}")
    await asyncio.to_thread(
        bot_process,
        voice_server_url=voice.url,
        port=bot_port,
        DEEPGRAM_API_KEY="dg-test-key",
        DEEPGRAM_BASE_URL=deepgram_url,
    )

    started = start_pipecat_session(
        voice.url,
        mode="phone",
        driver_name="Ann Brook",
        driver_phone="+14155550123",
        load_number="L-9",
        origin="Reno, NV",
        destination="Boise, ID",
    )
    call_id = started["provider_call_id"]

    # Twilio's side: a quiet line while the agent greets the driver, who then hangs up.
    async with PhoneCall(started["join_url"], started["details"]["stream_parameters"]) as twilio:
        assert await twilio.listen(), "the agent greets the driver"
    greeting = twilio.bot_audio

    assert len(greeting) >= 8000
    assert sum(1 for b in greeting if b not in MULAW_SILENCE) > len(greeting) // 4
    assert deepgram_audio, "the driver's audio reached the speech-to-text service"

    call = await ended_call(voice.store, call_id, timeout=30)
    assert call.call_type == "twilio"
    assert call.driver_name == "Ann Brook"
    assert call.transcript[0]["role"] == "agent"
    assert "Ann" in call.transcript[0]["content"] and "L-9" in call.transcript[0]["content"]
    assert call.disconnection_reason == "client_disconnected"


class DriverMicrophone(MediaStreamTrack):
    """A browser microphone in a quiet cab: 20 ms of 48 kHz silence, in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        samples = 960
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / 48000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = 48000
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, 48000)
        self._pts += samples
        return frame


async def test_a_browser_joins_over_webrtc_hears_the_agent_and_the_call_is_reported(
    start_server: Callable[..., RunningServer],
    bot_process: Callable[..., str],
) -> None:
    bot_port = free_port()
    voice = start_server(bot_url=f"http://127.0.0.1:{bot_port}")
    # No keys at all: Whisper hears and the Piper voice speaks on this machine.
    bot_url = await asyncio.to_thread(bot_process, voice_server_url=voice.url, port=bot_port)
    started = start_pipecat_session(
        voice.url,
        driver_name="Maria Lopez",
        load_number="7731",
        origin="Laredo, TX",
        destination="Dallas, TX",
    )
    call_id = started["provider_call_id"]

    # What Pipecat's prebuilt client does once the driver opens join_url.
    async with httpx.AsyncClient(base_url=bot_url) as browser:
        session = (
            await browser.post(
                "/start",
                json={"transport": "webrtc", "enableDefaultIceServers": False},
                headers={"Referer": started["join_url"]},
            )
        ).json()
        peer = RTCPeerConnection()
        peer.addTrack(DriverMicrophone())
        heard: asyncio.Queue = asyncio.Queue()

        @peer.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":

                async def listen() -> None:
                    while True:
                        frame = await track.recv()
                        await heard.put(frame.to_ndarray())

                asyncio.ensure_future(listen())

        await peer.setLocalDescription(await peer.createOffer())
        answer = (
            await browser.post(
                f"/sessions/{session['sessionId']}/api/offer",
                json={"sdp": peer.localDescription.sdp, "type": peer.localDescription.type},
            )
        ).json()
        await peer.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))

        # The whole greeting, then the driver hangs up: Pipecat adds a sentence to the
        # transcript once it has been spoken, so a call dropped mid-sentence leaves it out.
        loud_frames = 0
        last_loud = time.monotonic()
        deadline = last_loud + 30
        while time.monotonic() < deadline:
            if loud_frames >= 25 and time.monotonic() - last_loud > 1.5:
                break
            try:
                samples = await asyncio.wait_for(heard.get(), 1)
            except TimeoutError:
                continue
            if abs(samples).max() > 1000:
                loud_frames += 1
                last_loud = time.monotonic()
        await peer.close()

    assert loud_frames >= 25

    call = await ended_call(voice.store, call_id, timeout=30)
    assert call.call_type == "webrtc"
    assert call.transcript and call.transcript[0]["role"] == "agent"
    assert "Maria" in call.transcript[0]["content"]
