"""A call ending while neither the database nor the outbox takes writes is kept, not lost.

The recorder keeps the ended call in memory and retries it with backoff; /healthz answers 503
while it is held there (a load balancer takes the server out of rotation, an operator sees it),
and the call lands, whole, once storage is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from db.models import CallStatus
from tests.resilience.conftest import eventually, read_call, sqlite_write_locked
from tests.resilience.traffic import DRIVER_TURNS, retell_call


def health(server_url: str) -> httpx.Response:
    return httpx.get(server_url + "/healthz", timeout=10)


async def test_an_ended_call_nobody_can_take_waits_in_memory_and_lands_later(
    serve_unwritable: Callable[..., Any],
) -> None:
    server, settings, blocked = serve_unwritable()
    with sqlite_write_locked(settings.sqlite_path):
        caller = await retell_call(server.url, "call_unsaved")
        held = await eventually(lambda: (h := health(server.url)).status_code == 503 and h)
        assert held.json()["status"] == "failing" and held.json()["unsaved_calls"] == 1
        assert held.headers["retry-after"]
        await asyncio.sleep(1.0)  # several retries later, still held, still reported
        assert health(server.url).status_code == 503
        assert read_call(settings.database_url, "call_unsaved") is None
        blocked.unlink()  # the outbox's disk comes back first
    # The database too: the held call lands (directly or through the outbox).
    await eventually(lambda: health(server.url).status_code == 200, timeout=30)
    call = await eventually(lambda: read_call(settings.database_url, "call_unsaved"), timeout=30)
    await eventually(
        lambda: read_call(settings.database_url, "call_unsaved").status == CallStatus.ENDED
    )
    call = read_call(settings.database_url, "call_unsaved")
    assert call.transcript == caller.transcript
    assert len(call.transcript) == 1 + 2 * len(DRIVER_TURNS)
    assert call.structured and call.driver_name == "Maria Lopez"
