"""Services come from settings: offline with no keys; a cloud service only with its key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipecat.services.cartesia.tts import CartesiaTTSService
from pipecat.services.deepgram.stt import DeepgramSTTService

from bot.services import check_bot_config, make_stt, make_tts
from bot.stt_whisper import LocalWhisperSTTService
from bot.tts_espeak import EspeakTTSService
from bot.tts_piper import PiperTTSService
from settings import ConfigError, load_settings
from tests.conftest import ROOT


def test_with_no_keys_whisper_hears_and_piper_speaks() -> None:
    settings = load_settings(pipecat_api_key="pk-key")

    services = check_bot_config(settings)
    assert (services.stt, services.tts, services.warnings) == ("whisper", "piper", ())
    stt = make_stt(settings, prompt="Laredo, San Antonio, I-35.")
    assert isinstance(stt, LocalWhisperSTTService)
    assert stt._settings.initial_prompt == "Laredo, San Antonio, I-35."
    assert isinstance(make_tts(settings), PiperTTSService)


def test_a_deepgram_key_selects_deepgram_and_espeak_is_still_there() -> None:
    settings = load_settings(deepgram_api_key="dg-key", bot_tts="espeak")

    assert isinstance(make_stt(settings), DeepgramSTTService)
    assert isinstance(make_tts(settings), EspeakTTSService)
    whisper = load_settings(deepgram_api_key="dg-key", bot_stt="whisper")
    assert isinstance(make_stt(whisper), LocalWhisperSTTService)


def test_cartesia_is_chosen_by_bot_tts_with_its_key() -> None:
    settings = load_settings(bot_tts="cartesia", cartesia_api_key="ca-key")

    assert isinstance(make_tts(settings), CartesiaTTSService)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"bot_stt": "deepgram"}, "DEEPGRAM_API_KEY"),
        ({"bot_tts": "cartesia"}, "CARTESIA_API_KEY"),
        ({"pipecat_api_key": None}, "PIPECAT_API_KEY"),
    ],
)
def test_a_missing_optional_key_is_a_warning_and_the_offline_service_runs(
    overrides: dict, named: str
) -> None:
    settings = load_settings(**({"pipecat_api_key": "pk-key"} | overrides))

    services = check_bot_config(settings)
    assert any(named in warning for warning in services.warnings)
    assert isinstance(make_stt(settings), LocalWhisperSTTService)
    assert isinstance(make_tts(settings), PiperTTSService)


def test_a_model_directory_without_a_tokenizer_is_refused_naming_the_variable(
    tmp_path: Path,
) -> None:
    (tmp_path / "model.bin").write_bytes(b"")
    (tmp_path / "config.json").write_text("{}")

    with pytest.raises(ConfigError, match="WHISPER_MODEL_DIR.*tokenizer.json"):
        check_bot_config(load_settings(whisper_model_dir=str(tmp_path)))


def test_python_m_bot_with_a_broken_model_directory_exits_before_serving_naming_it(
    tmp_path: Path,
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DISPATCH_ENV_FILE": "",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "WHISPER_MODEL_DIR": str(tmp_path / "no-model-here"),
    }

    result = subprocess.run(
        [sys.executable, "-m", "bot", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "WHISPER_MODEL_DIR" in result.stderr
    assert "Uvicorn running" not in result.stderr
