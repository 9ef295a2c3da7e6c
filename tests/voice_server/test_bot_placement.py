"""Placing Pipecat sessions on several bots (BOT_URLS): the least-loaded bot that answers its
health route gets the session, a silent or failing bot is passed over, and the session can be
joined on any bot because it lives in the database.

The bots are the bot's real session and capacity routes on uvicorn, on one shared database, each
with its own count of running sessions (as separate bot processes have).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.capacity import CpuMeter, SessionCounter, capacity_router
from bot.sessions import SessionRefused, registry_for, session_router
from settings import ConfigError, load_settings
from tests.voice_server.conftest import API_KEY, RunningServer
from voice_server.engines import bot_placement

PIPECAT_KEY = "test-pipecat-key-0123456789"
START = {
    "driver_name": "Maria Lopez",
    "load_number": "7731",
    "origin": "Laredo, TX",
    "destination": "Dallas, TX",
}


class Bot:
    def __init__(self, **settings: Any) -> None:
        self.sessions = SessionCounter()
        app = FastAPI()
        app.include_router(session_router(load_settings(pipecat_api_key=PIPECAT_KEY, **settings)))
        app.include_router(capacity_router(self.sessions, CpuMeter()))
        self.server = RunningServer(app).start()
        self.url = self.server.url
        self.running = ExitStack()

    def busy_with(self, count: int) -> None:
        for _ in range(count):
            self.running.enter_context(self.sessions.session())

    def stop(self) -> None:
        self.running.close()
        self.server.stop()


@pytest.fixture(autouse=True)
def no_recent_placements(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot_placement, "_placed", {})


@pytest.fixture
def bots() -> Iterator[Callable[..., Bot]]:
    started: list[Bot] = []

    def start(**settings: Any) -> Bot:
        started.append(Bot(**settings))
        return started[-1]

    yield start
    for bot in started:
        bot.stop()


def voice_for(serve: Callable[..., RunningServer], make_settings, *urls: str) -> RunningServer:
    return serve(make_settings(pipecat_api_key=PIPECAT_KEY, bot_urls=",".join(urls)))


def start(voice: RunningServer, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{voice.url}/api/v1/voice/start",
        params={"vendor": "pipecat"},
        json=START | fields,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )


def test_a_session_goes_to_the_least_loaded_bot_and_joins_on_any(
    bots: Callable[..., Bot], serve, make_settings
) -> None:
    busy, idle = bots(), bots()
    busy.busy_with(2)
    voice = voice_for(serve, make_settings, busy.url, idle.url)

    response = start(voice, mode="phone", driver_phone="+14155550123")
    assert response.status_code == 201, response.text
    started = response.json()
    assert started["join_url"] == f"ws://127.0.0.1:{idle.server.port}/ws"

    # The registry is the database: the busy bot's process resolves the token too, once.
    registry = registry_for(load_settings())
    token = started["details"]["session"]
    spec = registry.resolve({"session": token}, fallback_id="x", transport="twilio")
    assert spec.provider_call_id == started["provider_call_id"]
    assert spec.context["driver_name"] == "Maria Lopez"
    with pytest.raises(SessionRefused):
        registry.resolve({"session": token}, fallback_id="x", transport="twilio")


def test_sessions_started_together_are_spread_over_idle_bots(
    bots: Callable[..., Bot], serve, make_settings
) -> None:
    first, second = bots(), bots()
    voice = voice_for(serve, make_settings, first.url, second.url)

    joins = [start(voice, load_number=f"L-{i}").json()["join_url"] for i in range(4)]
    placed_on = [url.split("/client/")[0] for url in joins]
    assert sorted(placed_on) == sorted([first.url, second.url] * 2)


def test_a_silent_bot_and_a_bot_that_cannot_register_are_passed_over(
    bots: Callable[..., Bot], serve, make_settings, tmp_path
) -> None:
    stopped = bots()
    stopped.stop()
    (tmp_path / "not_a_database").mkdir()
    broken = bots(database_url=f"sqlite:///{tmp_path / 'not_a_database'}")
    working = bots()
    working.busy_with(3)  # the busiest, yet the only one that can take the session
    voice = voice_for(serve, make_settings, stopped.url, broken.url, working.url)

    response = start(voice)
    assert response.status_code == 201, response.text
    assert response.json()["join_url"].startswith(working.url + "/client/?session=")


def test_no_bot_able_to_register_is_a_502_naming_each(
    bots: Callable[..., Bot], serve, make_settings
) -> None:
    gone = bots()
    gone.stop()
    voice = voice_for(serve, make_settings, gone.url, "http://127.0.0.1:9")

    response = start(voice)
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert "BOT_URLS" in detail and gone.url in detail and "127.0.0.1:9" in detail


def test_bot_urls_falls_back_to_bot_url_and_refuses_a_wrong_entry() -> None:
    assert load_settings(bot_url="http://bot:7860/").bot_url_list == ["http://bot:7860"]
    both = load_settings(bot_urls="http://a:7860, http://b:7860/")
    assert both.bot_url_list == ["http://a:7860", "http://b:7860"]
    with pytest.raises(ConfigError, match="BOT_URLS entry 'b:7860'"):
        load_settings(bot_urls="http://a:7860,b:7860")
