"""Records each call, driver on the left channel and bot on the right, into the recordings store.

Pipecat's AudioBufferProcessor sits after the output transport, where it sees both the audio
that came in and the audio that went out; when the call ends (EndFrame or CancelFrame) it hands
over the whole call, which is written as a WAV, saved (db/recordings.py) and reported to the voice
server as a `recording_saved` event through the bot's spooling EventClient. Saving runs as its
own task, so a pipeline being torn down does not cut it short; failures are logged, never raised.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor

from bot.event_client import EventClient
from bot.observer import event_id
from db.recordings import RecordingStore, recording_name
from protocols.pipecat_events import RECORDING_SAVED, PipecatEvent, RecordingSaved

_SAVING: set[asyncio.Task] = set()  # keeps running saves referenced until they finish


def wav_bytes(audio: bytes, sample_rate: int, channels: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(audio)
    return buffer.getvalue()


class CallRecorder:
    def __init__(
        self, provider_call_id: str, recordings: RecordingStore, event_client: EventClient
    ) -> None:
        self.provider_call_id = provider_call_id
        self._recordings = recordings
        self._events = event_client
        self.processor = AudioBufferProcessor(num_channels=2, auto_start_recording=True)
        self.processor.add_event_handler("on_audio_data", self._on_audio_data)
        self.saved: asyncio.Task | None = None

    async def _on_audio_data(
        self, _processor: Any, audio: bytes, sample_rate: int, channels: int
    ) -> None:
        if not audio or self.saved is not None:
            return
        self.saved = asyncio.create_task(self._save(audio, sample_rate, channels))
        _SAVING.add(self.saved)
        self.saved.add_done_callback(_SAVING.discard)

    async def _save(self, audio: bytes, sample_rate: int, channels: int) -> str | None:
        try:
            wav = wav_bytes(audio, sample_rate, channels)
            name = recording_name(self.provider_call_id)
            url = await asyncio.to_thread(self._recordings.save, name, wav)
            data = RecordingSaved(
                recording_url=url, duration_secs=round(len(audio) / (2 * channels * sample_rate), 3)
            )
            event = PipecatEvent(
                provider_call_id=self.provider_call_id,
                event_type=RECORDING_SAVED,
                event_id=event_id(self.provider_call_id, RECORDING_SAVED),
                occurred_at=datetime.fromtimestamp(time.time(), UTC),
                data=data.model_dump(mode="json"),
            )
            await self._events.send(event.model_dump(mode="json"))
            logger.info(f"Recording of {self.provider_call_id} saved: {url}")
            return url
        except Exception:
            logger.exception(f"Could not save the recording of {self.provider_call_id}")
            return None
