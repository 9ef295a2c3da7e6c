"""The real bot process (`python -m bot`): a Twilio media stream and a WebRTC browser, end to end.

voice server `POST /api/v1/voice/start` (phone) -> the bot registers the session -> "Twilio"
(this test) opens the media stream with the session parameter -> the agent greets the driver
in espeak-ng audio (mu-law media messages) -> the driver hangs up -> the session summary lands
in the voice server's store. Deepgram is a local WebSocket double that accepts the audio and
stays silent (the cloud is unreachable here).
"""

from __future__ import annotations

import asyncio
import base64
import fractions
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import httpx
import pytest
import websockets
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from tests.bot.conftest import DISPATCH_KEY, PIPECAT_KEY
from tests.conftest import ROOT, free_port
from tests.voice_server.conftest import RunningServer

MULAW_SILENCE = {0xFF, 0x7F}


def start_pipecat_session(voice_url: str, **call: str) -> dict[str, str]:
    """What the Streamlit app does to start a Pipecat session for a driver and load."""
    response = httpx.post(
        f"{voice_url}/api/v1/voice/start",
        params={"vendor": "pipecat"},
        json=call,
        headers={"Authorization": f"Bearer {DISPATCH_KEY}"},
    )
    response.raise_for_status()
    return response.json()


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


@pytest.fixture
def bot_process(tmp_path: Path) -> Iterator[Callable[..., str]]:
    processes: list[subprocess.Popen] = []

    def start(*, voice_server_url: str, deepgram_url: str, port: int) -> str:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", str(tmp_path)),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
            "DEEPGRAM_API_KEY": "dg-test-key",
            "DEEPGRAM_BASE_URL": deepgram_url,
            "PIPECAT_API_KEY": PIPECAT_KEY,
            "VOICE_SERVER_URL": voice_server_url,
            "PIPECAT_SPOOL_PATH": str(tmp_path / "bot_spool.jsonl"),
            "DISPATCH_TRANSFER_NUMBER": "+15550001111",
        }
        log = (tmp_path / "bot.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError((tmp_path / "bot.log").read_text()[-2000:])
            try:
                if httpx.get(f"{url}/status").status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the bot runner did not start")

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_a_phone_session_greets_the_driver_over_twilio_and_reports_the_call(
    start_server: Callable[..., RunningServer],
    bot_process: Callable[..., str],
    deepgram_double: tuple[str, list[int]],
) -> None:
    deepgram_url, deepgram_audio = deepgram_double
    bot_port = free_port()
    voice = start_server(bot_url=f"http://127.0.0.1:{bot_port}")
    await asyncio.to_thread(
        bot_process, voice_server_url=voice.url, deepgram_url=deepgram_url, port=bot_port
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

    greeting = bytearray()
    async with websockets.connect(started["join_url"]) as twilio:
        await twilio.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1"}))
        await twilio.send(
            json.dumps(
                {
                    "event": "start",
                    "sequenceNumber": "1",
                    "streamSid": "MZ0001",
                    "start": {
                        "streamSid": "MZ0001",
                        "callSid": "CA0001",
                        "accountSid": "AC0001",
                        "tracks": ["inbound"],
                        "customParameters": started["details"]["stream_parameters"],
                        "mediaFormat": {
                            "encoding": "audio/x-mulaw",
                            "sampleRate": 8000,
                            "channels": 1,
                        },
                    },
                }
            )
        )
        # The driver's line: 20 ms of mu-law silence at a time, while the agent speaks.
        silence = base64.b64encode(bytes([0xFF]) * 160).decode()
        deadline = time.monotonic() + 30
        while len(greeting) < 8000 and time.monotonic() < deadline:  # a second of speech
            await twilio.send(
                json.dumps({"event": "media", "streamSid": "MZ0001", "media": {"payload": silence}})
            )
            try:
                message = json.loads(await asyncio.wait_for(twilio.recv(), 0.05))
            except TimeoutError:
                continue
            if message.get("event") == "media":
                assert message["streamSid"] == "MZ0001"
                greeting += base64.b64decode(message["media"]["payload"])
        await twilio.send(json.dumps({"event": "stop", "streamSid": "MZ0001"}))

    assert len(greeting) >= 8000
    assert sum(1 for b in greeting if b not in MULAW_SILENCE) > len(greeting) // 4
    assert deepgram_audio, "the driver's audio reached the speech-to-text service"

    deadline = time.monotonic() + 30
    call = voice.store.get_call(call_id)
    while (call is None or call.status != "ended") and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        call = voice.store.get_call(call_id)
    assert call is not None and call.status == "ended"
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
    deepgram_double: tuple[str, list[int]],
) -> None:
    deepgram_url, _ = deepgram_double
    bot_port = free_port()
    voice = start_server(bot_url=f"http://127.0.0.1:{bot_port}")
    bot_url = await asyncio.to_thread(
        bot_process, voice_server_url=voice.url, deepgram_url=deepgram_url, port=bot_port
    )
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

        loud_frames = 0
        deadline = time.monotonic() + 30
        while loud_frames < 25 and time.monotonic() < deadline:  # half a second of speech
            try:
                samples = await asyncio.wait_for(heard.get(), 1)
            except TimeoutError:
                continue
            loud_frames += int(abs(samples).max() > 1000)
        await peer.close()

    assert loud_frames >= 25

    deadline = time.monotonic() + 30
    call = voice.store.get_call(call_id)
    while (call is None or call.status != "ended") and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        call = voice.store.get_call(call_id)
    assert call is not None and call.status == "ended"
    assert call.call_type == "webrtc"
    assert call.transcript and call.transcript[0]["role"] == "agent"
    assert "Maria" in call.transcript[0]["content"]
