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


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}
