"""espeak-ng as a Pipecat TTSService: real speech, offline, from the Debian package.

Each sentence runs `espeak-ng --stdout` in a subprocess; its WAV output is streamed back as
TTSAudioRawFrames, resampled to the pipeline's output rate by the base class.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

ESPEAK_BINARY = "espeak-ng"
READ_CHUNK_BYTES = 4096


class EspeakNotInstalled(RuntimeError):
    """espeak-ng is missing: `apt-get install espeak-ng` (or `make system-packages`)."""


def espeak_program(binary: str, why: str, otherwise: str = "") -> str:
    """The path of the espeak-ng program; EspeakNotInstalled saying `why` it is needed."""
    path = shutil.which(binary)
    if path is None:
        raise EspeakNotInstalled(
            f"{why} the `{binary}` program: apt-get install espeak-ng{otherwise}."
        )
    return path


@dataclass
class EspeakTTSSettings(TTSSettings):
    pass


class EspeakTTSService(TTSService):
    Settings = EspeakTTSSettings
    _settings: EspeakTTSSettings

    def __init__(
        self,
        *,
        voice: str = "en-us",
        words_per_minute: int = 165,
        binary: str = ESPEAK_BINARY,
        **kwargs,
    ) -> None:
        path = espeak_program(
            binary, "BOT_TTS=espeak needs", " (or set BOT_TTS=cartesia with CARTESIA_API_KEY)"
        )
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=self.Settings(model=None, voice=voice, language=None),
            **kwargs,
        )
        self._binary = path
        self._voice = voice
        self._words_per_minute = words_per_minute

    def can_generate_metrics(self) -> bool:
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        process = await asyncio.create_subprocess_exec(
            self._binary,
            "--stdout",
            "-v",
            self._voice,
            "-s",
            str(self._words_per_minute),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin and process.stdout
        process.stdin.write(text.encode())
        await process.stdin.drain()
        process.stdin.close()

        async def wav_chunks(stdout: asyncio.StreamReader) -> AsyncIterator[bytes]:
            while chunk := await stdout.read(READ_CHUNK_BYTES):
                yield chunk

        try:
            await self.start_tts_usage_metrics(text)
            async for frame in self._stream_audio_frames_from_iterator(
                wav_chunks(process.stdout), strip_wav_header=True, context_id=context_id
            ):
                await self.stop_ttfb_metrics()
                yield frame
            if await process.wait() != 0:
                stderr = (
                    (await process.stderr.read()).decode(errors="replace") if process.stderr else ""
                )
                yield ErrorFrame(error=f"espeak-ng failed ({process.returncode}): {stderr[:200]}")
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await self.stop_ttfb_metrics()
            logger.trace(f"{self}: finished speaking [{text}]")
