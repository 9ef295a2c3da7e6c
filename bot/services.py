"""The bot's services, chosen by settings; the pipeline's shape does not change with them.

Offline by default, with no account: Whisper (faster-whisper) hears, a Piper voice speaks
(espeak-ng stays the always-there fallback). Deepgram hears when DEEPGRAM_API_KEY is set (or
BOT_STT=deepgram); Cartesia speaks with BOT_TTS=cartesia and CARTESIA_API_KEY. A chosen cloud
service without its key is a warning and the offline one runs instead: a missing optional key
never stops the bot. The "LLM" is the dispatch agent's policy run by DispatchAgentProcessor.
Turn-taking: Silero VAD hears speech stop, then a short speech timeout ends the driver's turn.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from bot.tts_espeak import ESPEAK_BINARY, EspeakTTSService
from settings import ConfigError, Settings

USER_TURN_STOP_TIMEOUT_SECS = 12.0


@dataclass(frozen=True)
class BotServices:
    """Which STT and TTS this bot runs, and what was not possible as configured."""

    stt: Literal["whisper", "deepgram"]
    tts: Literal["piper", "espeak", "cartesia"]
    warnings: tuple[str, ...] = field(default=())


def whisper_model_dir(settings: Settings) -> Path:
    from bot.stt_whisper import default_model_dir

    return Path(settings.whisper_model_dir) if settings.whisper_model_dir else default_model_dir()


def choose_services(settings: Settings) -> BotServices:
    warnings = []
    stt = settings.bot_stt or ("deepgram" if settings.deepgram_api_key else "whisper")
    if stt == "deepgram" and settings.deepgram_api_key is None:
        warnings.append("BOT_STT=deepgram but DEEPGRAM_API_KEY is not set: hearing with Whisper.")
        stt = "whisper"
    tts = settings.bot_tts
    if tts == "cartesia" and settings.cartesia_api_key is None:
        warnings.append("BOT_TTS=cartesia but CARTESIA_API_KEY is not set: speaking with Piper.")
        tts = "piper"
    if settings.pipecat_api_key is None:
        warnings.append(
            "PIPECAT_API_KEY is not set: session summaries wait in the spool until it is "
            "(use the same value as the voice server's .env)."
        )
    return BotServices(stt=stt, tts=tts, warnings=tuple(warnings))


def check_bot_config(settings: Settings) -> BotServices:
    """What must be on this machine for the chosen services; warnings for what falls back."""
    services = choose_services(settings)
    problems = []
    if shutil.which(ESPEAK_BINARY) is None:
        problems.append(
            "The espeak-ng program is missing (the offline voices use it): "
            "apt-get install espeak-ng, or `make system-packages`."
        )
    if services.stt == "whisper":
        from bot.stt_whisper import WhisperModelMissing, check_model_dir

        try:
            check_model_dir(whisper_model_dir(settings))
        except WhisperModelMissing as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("The Pipecat bot cannot start. " + " ".join(problems))
    return services


def warm_up(settings: Settings) -> None:
    """Load the offline models before the first call, so its driver does not wait for them."""
    services = choose_services(settings)
    started = time.monotonic()
    logger.info("Loading the offline speech models (the first start takes a few seconds) ...")
    if services.stt == "whisper":
        from bot.stt_whisper import shared_model

        shared_model(whisper_model_dir(settings), window_secs=settings.bot_whisper_window_secs)
    if services.tts == "piper":
        from bot.tts_piper import default_voice_paths, load_voice

        load_voice(*default_voice_paths())
    logger.info(f"Speech models ready in {time.monotonic() - started:.1f} s")


def make_stt(
    settings: Settings,
    *,
    prompt: str | None = None,
    agent_said_last: Callable[[], str | None] | None = None,
) -> STTService:
    """`prompt`: this call's own words (places, highways) that recognition should expect;
    `agent_said_last`: the agent's latest words, which the driver is answering."""
    services = choose_services(settings)
    if services.stt == "deepgram":
        from pipecat.services.deepgram.stt import DeepgramSTTService

        assert settings.deepgram_api_key is not None
        return DeepgramSTTService(
            api_key=settings.deepgram_api_key.get_secret_value(),
            base_url=settings.deepgram_base_url or "",
        )
    from bot.stt_whisper import LocalWhisperSTTService

    return LocalWhisperSTTService(
        model_dir=whisper_model_dir(settings),
        initial_prompt=prompt,
        agent_said_last=agent_said_last,
        window_secs=settings.bot_whisper_window_secs,
        beam_size=settings.bot_whisper_beam_size,
    )


def make_tts(settings: Settings) -> TTSService:
    services = choose_services(settings)
    if services.tts == "cartesia":
        from pipecat.services.cartesia.tts import CartesiaTTSService

        assert settings.cartesia_api_key is not None
        return CartesiaTTSService(
            api_key=settings.cartesia_api_key.get_secret_value(),
            settings=CartesiaTTSService.Settings(voice=settings.cartesia_voice_id),
        )
    if services.tts == "piper":
        from bot.tts_piper import PiperTTSService

        return PiperTTSService(first_chunk_words=settings.bot_tts_first_chunk_words)
    return EspeakTTSService()


def user_turn_params(settings: Settings) -> LLMUserAggregatorParams:
    """Silero VAD hears speech stop; the turn ends after a short, fixed speech timeout.

    Smart-turn v3 instead took 1.8-3.6 s from end of speech to the bot's first audio here (it
    often judged a finished sentence incomplete and waited); see bench/voice_bench.py.
    """
    timeout = settings.bot_user_speech_timeout_secs
    vad = VADParams(stop_secs=settings.bot_vad_stop_secs)
    return LLMUserAggregatorParams(
        # Ending a turn with no transcript makes the agent answer nothing; on a busy machine
        # Whisper can take seconds, so wait for it well past Pipecat's 5 s default.
        user_turn_stop_timeout=USER_TURN_STOP_TIMEOUT_SECS,
        vad_analyzer=SileroVADAnalyzer(params=vad),
        user_turn_strategies=UserTurnStrategies(
            stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=timeout)]
        ),
    )
