"""A real voice server on a free port (uvicorn in a thread) and Retell's side of the wire."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from retell.lib.webhook_auth import symmetric

from bench.served_app import ServedApp
from settings import Settings, load_settings

API_KEY = "test-dispatch-key-0123456789"
RETELL_KEY = "key_test_retell_0123456789abcdef"
TRANSFER_NUMBER = "+15550001111"
START_MS = 1_764_000_000_000  # a Retell call's start_timestamp


class RunningServer(ServedApp):
    """A voice server app (or a double of one) on uvicorn in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(app, what="the server")
        self.app = app

    @property
    def store(self) -> Any:
        return self.app.state.store


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'voice.db'}",
            "dispatch_api_key": API_KEY,
            "retell_api_key": RETELL_KEY,
            "dispatch_transfer_number": TRANSFER_NUMBER,
            # Retell's API is not reachable from tests; the tests of the check turn it on.
            "retell_verify_call_ids": False,
        }
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
def serve() -> Iterator[Callable[..., RunningServer]]:
    """`serve(settings, policy=None)` -> a started server; all are stopped after the test."""
    from voice_server.main import create_app

    started: list[RunningServer] = []

    def start(settings: Settings, **app_options: Any) -> RunningServer:
        server = RunningServer(create_app(settings, **app_options)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def signed(body: str, key: str = RETELL_KEY, timestamp: int | None = None) -> dict[str, str]:
    """Webhook headers exactly as Retell sends them (retell-sdk's signing scheme)."""
    return {
        "x-retell-signature": symmetric["sign"](body, key, timestamp),
        "content-type": "application/json",
    }


def retell_call_object(call_id: str = "call_abc123", **changes: Any) -> dict[str, Any]:
    """A call object as Retell sends it in webhooks and from get-call, with `changes`."""
    call = {
        "call_id": call_id,
        "agent_id": "agent_1",
        "call_type": "phone_call",
        "call_status": "ended",
        "direction": "outbound",
        "from_number": "+15550002222",
        "to_number": "+14155550123",
        "retell_llm_dynamic_variables": {"driver_name": "Ana Ruiz", "load_number": "LD-77"},
        "start_timestamp": START_MS,
        "end_timestamp": START_MS + 95_500,
        "duration_ms": 95_500,
        "disconnection_reason": "agent_hangup",
        "recording_url": "https://example.invalid/rec.wav",
        "transcript_object": [
            {"role": "agent", "content": "Hi Ana, checking on LD-77.", "words": []},
            {"role": "user", "content": "Driving, near Reno.", "words": []},
        ],
        "latency": {
            "e2e": {"p50": 812.0, "p90": 1200.0, "values": [800, 812]},
            "llm": {"p50": 300},
        },
        "call_cost": {"combined_cost": 12.5, "product_costs": [], "total_duration_seconds": 95},
    }
    call.update(changes)
    return call


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}
