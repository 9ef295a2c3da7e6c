"""A driver on a phone line, as the bot sees Twilio: a media stream over a WebSocket.

Twilio's side of the protocol (`connected`, `start` with the stream's custom parameters, then a
`media` message of base64 8 kHz mu-law every 20 ms, then `stop`), played in real time: the line
carries silence between the driver's lines, as a phone line does, and each line is spoken by
espeak-ng. The bot's audio comes back as `media` messages; the time from the end of the driver's
speech to the first bot audio that is not silence is the voice-to-voice latency of that turn.
Used by the real-audio tests (tests/bot/test_phone_call.py) and bench/voice_bench.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import subprocess
import time
import wave
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soxr
import websockets

SAMPLE_RATE = 8000
FRAME_SECS = 0.02
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
MULAW_SILENCE = 0xFF
# Bytes of near-silence mu-law (|sample| < ~60 of 32768): not speech.
_QUIET_MULAW = frozenset({0xFF, 0x7F, 0xFE, 0x7E, 0xFD, 0x7D, 0xFC, 0x7C})


def mulaw_encode(pcm: np.ndarray) -> bytes:
    """16-bit linear PCM -> G.711 mu-law."""
    x = pcm.astype(np.int32)
    sign = (x < 0).astype(np.int32) << 7
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def trim_silence(pcm: np.ndarray, threshold: int = 300) -> np.ndarray:
    loud = np.flatnonzero(np.abs(pcm) > threshold)
    return pcm[loud[0] : loud[-1] + 1] if loud.size else pcm[:0]


# A male variant of espeak-ng's US voice: the drivers' voice in the tests and the benchmark.
DRIVER_VOICE = "en-us+m3"


def espeak_pcm(text: str, *, words_per_minute: int = 160, voice: str = DRIVER_VOICE) -> np.ndarray:
    """`text` spoken by espeak-ng, as 16-bit PCM at 8 kHz with the silence around it trimmed."""
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, "-s", str(words_per_minute), text],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
    resampled = soxr.resample(pcm.astype(np.float32), rate, SAMPLE_RATE)
    return trim_silence(np.clip(resampled, -32768, 32767).astype(np.int16))


def spoken_mulaw(text: str, **kwargs: Any) -> bytes:
    return mulaw_encode(espeak_pcm(text, **kwargs))


@dataclass
class SpokenTurn:
    said: str
    speech_ended_at: float
    bot_audio_at: float | None = None

    @property
    def latency_secs(self) -> float | None:
        if self.bot_audio_at is None:
            return None
        return self.bot_audio_at - self.speech_ended_at


@dataclass
class PhoneCall:
    """One Twilio media stream to the bot's `/ws`; `async with` it, then `say` and `hang_up`."""

    url: str
    stream_parameters: dict[str, str]
    stream_sid: str = "MZ0001"
    call_sid: str = "CA0001"
    turns: list[SpokenTurn] = field(default_factory=list)
    bot_audio: bytearray = field(default_factory=bytearray)
    closed_by_bot: bool = False
    # How the line delivers the driver's audio: every 20 ms frame on time, or held and sent in
    # bursts of this many seconds, as a congested mobile network or a busy relay does.
    burst_secs: float = FRAME_SECS

    def __post_init__(self) -> None:
        self._socket: Any = None
        self._outgoing: deque[bytes] = deque()
        self._sent_all = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._last_bot_audio_at: float | None = None
        self._first_bot_audio_after: dict[float, float] = {}
        self._closed = asyncio.Event()

    async def __aenter__(self) -> PhoneCall:
        self._socket = await websockets.connect(self.url, max_size=2**20)
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": self.stream_sid,
                "start": {
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "accountSid": "AC0001",
                    "tracks": ["inbound"],
                    "customParameters": self.stream_parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
        self._tasks = [
            asyncio.create_task(self._send_line()),
            asyncio.create_task(self._receive()),
        ]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.hang_up()

    async def _send(self, message: dict[str, Any]) -> None:
        await self._socket.send(json.dumps(message))

    async def _send_line(self) -> None:
        """20 ms of line every 20 ms, on an absolute schedule: speech when queued, else quiet;
        held back and sent together once `burst_secs` of it are due."""
        silence = bytes([MULAW_SILENCE]) * FRAME_BYTES
        frames_per_burst = max(1, round(self.burst_secs / FRAME_SECS))
        held: list[bytes] = []
        holds_end_of_line = False
        next_at = time.monotonic()
        try:
            while not self._closed.is_set():
                chunk = self._outgoing.popleft() if self._outgoing else silence
                held.append(chunk)
                holds_end_of_line = holds_end_of_line or (
                    chunk is not silence and not self._outgoing
                )
                if len(held) >= frames_per_burst:
                    for frame in held:
                        payload = base64.b64encode(frame).decode()
                        await self._send(
                            {
                                "event": "media",
                                "streamSid": self.stream_sid,
                                "media": {"payload": payload},
                            }
                        )
                    held.clear()
                    if holds_end_of_line:
                        holds_end_of_line = False
                        self._sent_all.set()
                next_at += FRAME_SECS
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        except websockets.ConnectionClosed:
            pass  # the receiving side notes who closed it
        finally:
            self._sent_all.set()  # nothing more goes out: a line being said is over

    async def _receive(self) -> None:
        try:
            async for raw in self._socket:
                message = json.loads(raw)
                if message.get("event") != "media":
                    continue
                audio = base64.b64decode(message["media"]["payload"])
                self.bot_audio += audio
                if any(b not in _QUIET_MULAW for b in audio):
                    self._last_bot_audio_at = time.monotonic()
                    turn = self.turns[-1] if self.turns else None
                    if turn is not None and turn.bot_audio_at is None:
                        turn.bot_audio_at = self._last_bot_audio_at
        except websockets.ConnectionClosed:
            pass
        self.closed_by_bot = not self._closed.is_set()
        self._closed.set()
        self._sent_all.set()

    @property
    def is_open(self) -> bool:
        return not self._closed.is_set()

    async def listen(self, *, quiet_secs: float = 1.0, timeout_secs: float = 30.0) -> bool:
        """Wait until the bot has spoken and then stayed quiet for `quiet_secs` (or hung up)."""
        started = time.monotonic()
        heard_from = self._last_bot_audio_at
        deadline = started + timeout_secs
        while time.monotonic() < deadline and self.is_open:
            last = self._last_bot_audio_at
            spoke = last is not None and last != heard_from
            if spoke and time.monotonic() - last >= quiet_secs:  # type: ignore[operator]
                return True
            await asyncio.sleep(0.05)
        return not self.is_open

    async def wait_for_hang_up(self, timeout_secs: float = 10.0) -> bool:
        """True once the bot has closed the stream (it ended the call), False on timeout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), timeout_secs)
        return self.closed_by_bot

    async def say(self, text: str, *, audio: bytes | None = None) -> SpokenTurn:
        """Speak a line into the call in real time; returns when its last frame went out."""
        audio = audio if audio is not None else await asyncio.to_thread(spoken_mulaw, text)
        self._sent_all.clear()
        for start in range(0, len(audio), FRAME_BYTES):
            self._outgoing.append(audio[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff"))
        if not self.is_open:  # the bot hung up: nobody hears the line
            self._outgoing.clear()
            self._sent_all.set()
        await self._sent_all.wait()
        turn = SpokenTurn(said=text, speech_ended_at=time.monotonic())
        self.turns.append(turn)
        return turn

    async def hang_up(self) -> None:
        if self._socket is None:
            return
        if self.is_open:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._send({"event": "stop", "streamSid": self.stream_sid})
        self._closed.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._socket.close()
        self._socket = None
