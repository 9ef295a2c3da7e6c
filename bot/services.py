"""The bot's services, chosen by settings; the pipeline's shape does not change with them.

STT: Deepgram (DEEPGRAM_API_KEY). TTS: espeak-ng (offline, default) or Cartesia
(CARTESIA_API_KEY). The "LLM" is the dispatch agent's policy run by DispatchAgentProcessor:
the deterministic rules (AGENT_LLM=rules) or the agent's OpenAI-compatible policy
(AGENT_LLM=openai). Turn-taking: Silero VAD and the smart-turn v3 model shipped in the wheel.
"""

from __future__ import annotations

import shutil

from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from bot.tts_espeak import ESPEAK_BINARY, EspeakTTSService
from settings import ConfigError, Settings


def check_bot_config(settings: Settings) -> None:
    """Every key the chosen services need, checked before the runner accepts a session."""
    problems = []
    if settings.deepgram_api_key is None:
        problems.append("DEEPGRAM_API_KEY is not set: the bot transcribes speech with Deepgram.")
    if settings.bot_tts == "cartesia" and settings.cartesia_api_key is None:
        problems.append("BOT_TTS=cartesia needs CARTESIA_API_KEY (or set BOT_TTS=espeak).")
    if settings.bot_tts == "espeak" and shutil.which(ESPEAK_BINARY) is None:
        problems.append("BOT_TTS=espeak needs the espeak-ng program: apt-get install espeak-ng.")
    if settings.agent_llm == "openai" and settings.openai_api_key is None:
        problems.append("AGENT_LLM=openai needs OPENAI_API_KEY (or set AGENT_LLM=rules).")
    if settings.pipecat_api_key is None:
        problems.append(
            "PIPECAT_API_KEY is not set: the bot sends session summaries to the voice server "
            "with it (use the same value as the voice server's .env)."
        )
    if problems:
        raise ConfigError("The Pipecat bot cannot start. " + " ".join(problems))


def make_stt(settings: Settings) -> STTService:
    from pipecat.services.deepgram.stt import DeepgramSTTService

    if settings.deepgram_api_key is None:
        raise ConfigError("DEEPGRAM_API_KEY is not set: the bot transcribes speech with Deepgram.")
    return DeepgramSTTService(
        api_key=settings.deepgram_api_key.get_secret_value(),
        base_url=settings.deepgram_base_url or "",
    )


def make_tts(settings: Settings) -> TTSService:
    if settings.bot_tts == "cartesia":
        from pipecat.services.cartesia.tts import CartesiaTTSService

        if settings.cartesia_api_key is None:
            raise ConfigError("BOT_TTS=cartesia needs CARTESIA_API_KEY (or set BOT_TTS=espeak).")
        return CartesiaTTSService(
            api_key=settings.cartesia_api_key.get_secret_value(),
            settings=CartesiaTTSService.Settings(voice=settings.cartesia_voice_id),
        )
    return EspeakTTSService()


def user_turn_params() -> LLMUserAggregatorParams:
    """Silero VAD hears speech; smart-turn v3 decides when the driver has finished."""
    return LLMUserAggregatorParams(
        vad_analyzer=SileroVADAnalyzer(),
        user_turn_strategies=UserTurnStrategies(
            stop=[TurnAnalyzerUserTurnStopStrategy(turn_analyzer=LocalSmartTurnAnalyzerV3())]
        ),
    )
