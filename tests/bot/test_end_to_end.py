"""Bot pipeline -> a real voice server on uvicorn -> the store -> GET /api/v1/pipecat/metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.event_client import EventClient
from tests.bot.conftest import DISPATCH_KEY, PIPECAT_KEY, BotCall, bot_settings
from tests.conftest import free_port
from tests.voice_server.conftest import RunningServer


async def check_in(call: BotCall) -> None:
    await call.answer()
    await call.driver_says("Driving on I-35 near San Antonio, heavy traffic, ETA 6 PM.")
    while not call.session.agent._ending:
        await call.driver_says("Traffic, that's all. Yes, I'll send the POD.")
    await call.wait_finished()


def metrics(server: RunningServer) -> dict[str, Any]:
    response = httpx.get(
        f"{server.url}/api/v1/pipecat/metrics",
        headers={"Authorization": f"Bearer {DISPATCH_KEY}"},
    )
    assert response.status_code == 200
    return response.json()


async def test_a_finished_session_shows_in_the_metrics(
    start_server: Callable[..., RunningServer], make_call: Callable[..., BotCall]
) -> None:
    server = start_server()
    call = make_call("pc_e2e", voice_server_url=server.url)

    await check_in(call)

    assert call.spooled() == []  # delivered, nothing waiting
    body = metrics(server)
    [item] = body["items"]
    summary = call.session.observer.summary
    assert summary is not None
    assert item["provider_call_id"] == "pc_e2e"
    assert item["load_number"] == "7731"
    assert item["duration_secs"] == pytest.approx(summary.duration_secs)
    assert item["interruptions_est"] == summary.interruptions == 0
    assert item["tokens_estimated"] == summary.tokens > 0
    assert item["keyword_hits"] == summary.keyword_hits
    assert body["aggregates"]["total_calls"] == 1
    stored = server.store.get_call("pc_e2e")
    assert stored.status == "ended"
    assert stored.driver_name == "Maria Lopez"
    assert stored.call_outcome == "In-Transit Update"
    assert stored.transcript == [item.model_dump() for item in summary.transcript]
    # Every figure the bot measured is stored: in its column, or else in metadata.
    assert stored.metadata is not None
    assert stored.metadata["conversation_turns"] == summary.conversation_turns > 0
    assert stored.metadata["interrupted_turns"] == summary.interrupted_turns
    assert stored.metadata["turns"] == summary.turns.model_dump()
    assert stored.metadata["speaking_secs"] == summary.speaking_secs
    assert stored.latency == summary.latency.model_dump(exclude_none=True)


async def test_the_same_summary_sent_again_is_stored_once(
    start_server: Callable[..., RunningServer], make_call: Callable[..., BotCall], tmp_path: Path
) -> None:
    server = start_server()
    call = make_call("pc_twice", voice_server_url=server.url)
    await check_in(call)
    before = server.store.get_call("pc_twice")

    event = call.session.observer.summary_event
    assert event is not None
    resent = httpx.post(
        f"{server.url}/api/v1/pipecat/event",
        json=event,
        headers={"Authorization": f"Bearer {PIPECAT_KEY}"},
    )
    report = await EventClient(server.url, PIPECAT_KEY, tmp_path / "resend.jsonl").send(event)

    assert resent.status_code == 200 and resent.json()["duplicate"] is True
    assert report.delivered == 1 and report.pending == 0
    assert metrics(server)["total"] == 1
    after = server.store.get_call("pc_twice")
    assert after.model_dump(exclude={"updated_at"}) == before.model_dump(exclude={"updated_at"})


async def test_with_the_server_down_the_summary_waits_in_the_spool_until_it_is_back(
    start_server: Callable[..., RunningServer], make_call: Callable[..., BotCall]
) -> None:
    port = free_port()
    first = make_call("pc_offline", voice_server_url=f"http://127.0.0.1:{port}", spool="shared")

    await check_in(first)

    assert [e["event_type"] for e in first.spooled()] == ["session_started", "session_summary"]
    server = start_server(port)
    assert metrics(server)["total"] == 0

    # The next session's first send flushes what the spool kept, oldest first.
    second = make_call("pc_next", voice_server_url=server.url, spool="shared")
    await second.answer()
    await second.hang_up()
    await second.wait_finished()

    assert second.spooled() == []
    ids = {item["provider_call_id"] for item in metrics(server)["items"]}
    assert ids == {"pc_offline", "pc_next"}
    offline = server.store.get_call("pc_offline")
    assert offline.status == "ended"
    sent = first.session.observer.summary.structured
    # Stored as every backend stores JSON: without its null members.
    assert offline.structured == {k: v for k, v in sent.items() if v is not None}


async def test_a_wrong_key_keeps_events_spooled_instead_of_losing_them(
    start_server: Callable[..., RunningServer], make_call: Callable[..., BotCall]
) -> None:
    server = start_server()
    call = make_call(
        "pc_wrong_key",
        voice_server_url=server.url,
        settings=bot_settings(pipecat_api_key="not-the-server-key"),
    )

    await check_in(call)

    assert [e["event_type"] for e in call.spooled()] == ["session_started", "session_summary"]
    assert server.store.get_call("pc_wrong_key") is None


async def test_the_transcript_reaches_the_voice_server_while_the_call_goes_on(
    start_server: Callable[..., RunningServer], make_call: Callable[..., BotCall]
) -> None:
    server = start_server()
    call = make_call("pc_live_e2e", voice_server_url=server.url)

    async def saved(role: str) -> list[dict[str, str]]:
        while True:
            stored = server.store.get_call("pc_live_e2e")
            if stored is not None and any(t["role"] == role for t in stored.transcript):
                return stored.transcript
            await asyncio.sleep(0.05)

    await call.answer()
    live = await asyncio.wait_for(saved("agent"), 10)
    assert live[0]["role"] == "agent" and "Maria" in live[0]["content"]
    await call.driver_says("Hi, yes, this is Maria.")
    live = await asyncio.wait_for(saved("user"), 10)
    assert live[1] == {"role": "user", "content": "Hi, yes, this is Maria."}
    assert server.store.get_call("pc_live_e2e").status == "ongoing"  # no summary yet
    assert "transcript_updated" not in {e["event_type"] for e in call.spooled()}  # never spooled

    await call.hang_up()
    await call.wait_finished()
    final = server.store.get_call("pc_live_e2e")
    assert final.status == "ended"
    summary = call.session.observer.summary
    assert summary is not None
    assert final.transcript == [item.model_dump() for item in summary.transcript]
