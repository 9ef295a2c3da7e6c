"""Services come from settings; a missing key stops the bot before any call, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipecat.services.cartesia.tts import CartesiaTTSService
from pipecat.services.deepgram.stt import DeepgramSTTService

from bot.services import check_bot_config, make_stt, make_tts
from bot.tts_espeak import EspeakTTSService
from settings import ConfigError, load_settings
from tests.conftest import ROOT

KEYS = {"deepgram_api_key": "dg-key", "pipecat_api_key": "pk-key"}


def test_the_default_services_are_deepgram_and_espeak() -> None:
    settings = load_settings(**KEYS)

    check_bot_config(settings)
    assert isinstance(make_stt(settings), DeepgramSTTService)
    assert isinstance(make_tts(settings), EspeakTTSService)


def test_cartesia_is_chosen_by_bot_tts() -> None:
    settings = load_settings(**KEYS, bot_tts="cartesia", cartesia_api_key="ca-key")

    assert isinstance(make_tts(settings), CartesiaTTSService)


@pytest.mark.parametrize(
    ("missing", "variable"),
    [("deepgram_api_key", "DEEPGRAM_API_KEY"), ("pipecat_api_key", "PIPECAT_API_KEY")],
)
def test_a_missing_key_is_a_config_error_naming_it(missing: str, variable: str) -> None:
    settings = load_settings(**{k: v for k, v in KEYS.items() if k != missing})

    with pytest.raises(ConfigError, match=variable):
        check_bot_config(settings)


def test_cartesia_without_its_key_is_refused_by_the_settings() -> None:
    with pytest.raises(ConfigError, match="CARTESIA_API_KEY"):
        load_settings(**KEYS, bot_tts="cartesia")


def test_python_m_bot_exits_before_serving_when_deepgram_is_not_configured(
    tmp_path: Path,
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "PIPECAT_API_KEY": "pk-key",
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
    assert "DEEPGRAM_API_KEY is not set" in result.stderr
    assert "Uvicorn running" not in result.stderr
