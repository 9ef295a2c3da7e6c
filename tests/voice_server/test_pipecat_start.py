"""Starting Pipecat sessions: the voice server registers them with the bot and says where to join.

The bot side is the bot's real session routes and middleware on uvicorn, with a stand-in for
the Pipecat runner's `POST /start` that echoes the body it receives (the runner's own would
start WebRTC negotiation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from bot.sessions import SessionBodyMiddleware, SessionRefused, registry_for, session_router
from db.models import CallFilters
from settings import load_settings
from tests.conftest import free_port
from tests.voice_server.conftest import API_KEY, RunningServer

PIPECAT_KEY = "test-pipecat-key-0123456789"
START = {
    "vendor": "pipecat",
    "driver_name": "Maria Lopez",
    "driver_phone": "+14155550123",
    "load_number": "7731",
    "origin": "Laredo, TX",
    "destination": "Dallas, TX",
    "appointment": "4 PM",
}


def bot_app() -> FastAPI:
    app = FastAPI()
    app.include_router(session_router(load_settings(pipecat_api_key=PIPECAT_KEY)))

    @app.post("/start")
    async def start(request: Request) -> dict[str, Any]:
        return await request.json()

    app.add_middleware(SessionBodyMiddleware)
    return app


@pytest.fixture
def bot() -> Iterator[RunningServer]:
    server = RunningServer(bot_app()).start()
    yield server
    server.stop()


@pytest.fixture
def voice(
    serve: Callable[..., RunningServer], make_settings: Callable[..., Any], bot: RunningServer
) -> RunningServer:
    return serve(make_settings(pipecat_api_key=PIPECAT_KEY, bot_url=bot.url))


def join(body: dict[str, Any]):
    """What the bot does with the runner body of a joining client."""
    return registry_for(load_settings()).resolve(body, fallback_id="x", transport="webrtc")


def start(voice: RunningServer, body: dict[str, Any], path: str = "/api/v1/voice/start"):
    return httpx.post(
        f"{voice.url}{path}",
        params={"vendor": "pipecat"} if path.endswith("voice/start") else None,
        json=body,
        headers={"Authorization": f"Bearer {API_KEY}"},
    )


def test_a_web_session_is_registered_and_the_browser_client_url_joins_it(
    voice: RunningServer, bot: RunningServer
) -> None:
    response = start(voice, START)

    assert response.status_code == 201
    started = response.json()
    call_id = started["provider_call_id"]
    assert started["provider"] == "pipecat" and started["status"] == "registered"
    token = started["details"]["session"]
    assert started["join_url"] == f"{bot.url}/client/?session={token}"

    call = voice.store.get_call(call_id)
    assert call.status == "registered" and call.call_type == "webrtc"
    assert call.driver_name == "Maria Lopez" and call.load_number == "7731"

    # The prebuilt client, opened at join_url, calls POST /start without a body.
    echoed = httpx.post(
        f"{bot.url}/start",
        json={"transport": "webrtc", "enableDefaultIceServers": True},
        headers={"Referer": started["join_url"]},
    ).json()
    assert echoed["body"] == {"session": token}
    spec = join(echoed["body"])
    assert spec.provider_call_id == call_id
    assert spec.context["driver_name"] == "Maria Lopez"
    assert spec.context["destination"] == "Dallas, TX"


def test_the_session_carries_the_calls_start_in_the_appointments_zone(
    voice: RunningServer,
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    started = start(voice, START | {"appointment": "Thu Nov 26, 1:30 PM CST"}).json()
    after = datetime.now(UTC)

    token = started["details"]["session"]
    fixed = join({"session": token}).context
    local_time = datetime.fromisoformat(fixed["local_time"])
    assert local_time.utcoffset() == timedelta(hours=-6)  # CST, not the server's zone
    assert before <= local_time <= after
    call = voice.store.get_call(started["provider_call_id"])
    assert call.metadata["local_time"] == fixed["local_time"]
    # The token joins once: a second join is refused.
    with pytest.raises(SessionRefused):
        join({"session": token})


def test_several_sessions_at_once_each_get_their_own_call_and_token(voice: RunningServer) -> None:
    started = [start(voice, START | {"load_number": f"L-{i}"}).json() for i in range(3)]

    assert len({s["provider_call_id"] for s in started}) == 3
    assert len({s["details"]["session"] for s in started}) == 3
    for i, s in enumerate(started):
        spec = join({"session": s["details"]["session"]})
        assert spec.context["load_number"] == f"L-{i}"


def test_a_phone_session_returns_the_twilio_stream_endpoint(
    voice: RunningServer, bot: RunningServer
) -> None:
    started = start(voice, START | {"mode": "phone"}).json()

    assert started["join_url"] == f"ws://127.0.0.1:{bot.port}/ws"
    assert started["details"]["stream_parameters"] == {"session": started["details"]["session"]}
    assert voice.store.get_call(started["provider_call_id"]).call_type == "twilio"


def test_calls_start_with_vendor_pipecat_takes_the_same_path(voice: RunningServer) -> None:
    response = start(voice, START, path="/api/v1/calls/start")

    assert response.status_code == 201
    assert response.json()["provider_call_id"].startswith("pc_")


def test_a_bot_that_is_down_is_a_502_naming_bot_url_and_the_call_is_marked_failed(
    serve: Callable[..., RunningServer], make_settings: Callable[..., Any]
) -> None:
    voice = serve(
        make_settings(pipecat_api_key=PIPECAT_KEY, bot_url=f"http://127.0.0.1:{free_port()}")
    )

    response = start(voice, START)

    assert response.status_code == 502
    assert "BOT_URL" in response.json()["detail"]
    [call] = voice.store.search_calls(CallFilters()).items
    assert call.status == "error" and "BOT_URL" in (call.error or "")


def test_a_bot_with_another_key_is_a_502_saying_so(
    serve: Callable[..., RunningServer], make_settings: Callable[..., Any], bot: RunningServer
) -> None:
    voice = serve(make_settings(pipecat_api_key="another-key", bot_url=bot.url))

    response = start(voice, START)

    assert response.status_code == 502
    assert "PIPECAT_API_KEY" in response.json()["detail"]


def test_without_pipecat_key_the_server_says_which_variable_and_creates_nothing(
    serve: Callable[..., RunningServer], make_settings: Callable[..., Any]
) -> None:
    voice = serve(make_settings())

    response = start(voice, START)

    assert response.status_code == 503
    assert "PIPECAT_API_KEY" in response.json()["detail"]
    assert voice.store.search_calls(CallFilters()).total == 0


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"driver_name": "  "}, 422),
        ({"driver_phone": "555-0123"}, 422),
        ({"load_number": None}, 422),
    ],
)
def test_bad_start_requests_are_refused_before_anything_starts(
    voice: RunningServer, change: dict[str, Any], status: int
) -> None:
    response = start(voice, START | change)

    assert response.status_code == status
    field = next(iter(change))
    assert any(field in err["loc"] for err in response.json()["detail"])


def test_starting_needs_the_dispatch_key(voice: RunningServer) -> None:
    response = httpx.post(f"{voice.url}/api/v1/voice/start", json=START)

    assert response.status_code == 401
