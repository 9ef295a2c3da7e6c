"""Delivering the bot's events: spool first, oldest first, nothing lost, nothing resent forever."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bot.call_control import TwilioTransfer
from bot.event_client import EventClient
from bot.observer import event_id
from tests.bot.conftest import PIPECAT_KEY, BotCall
from tests.conftest import free_port
from tests.voice_server.conftest import RunningServer


def started_event(provider_call_id: str) -> dict[str, Any]:
    return {
        "provider_call_id": provider_call_id,
        "event_type": "session_started",
        "event_id": event_id(provider_call_id, "session_started"),
        "data": {"context": {"driver_name": "Ann Brook", "load_number": "L-1"}},
    }


async def test_spooled_events_go_out_oldest_first_once_the_server_is_back(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    port = free_port()
    spool = tmp_path / "spool.jsonl"
    client = EventClient(f"http://127.0.0.1:{port}", PIPECAT_KEY, spool, attempts=1)

    for call_id in ("pc_1", "pc_2", "pc_3"):
        report = await client.send(started_event(call_id))
        assert report.delivered == 0
    assert [e["provider_call_id"] for e in client.pending()] == ["pc_1", "pc_2", "pc_3"]

    server = start_server(port)
    report = await client.flush()

    assert (report.delivered, report.pending, report.rejected) == (3, 0, 0)
    assert client.pending() == []
    calls = [server.store.get_call(call_id) for call_id in ("pc_1", "pc_2", "pc_3")]
    assert [c.id for c in calls] == sorted(c.id for c in calls)  # created in spool order


async def test_an_event_the_server_rejects_as_invalid_is_set_aside_not_retried_forever(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = start_server()
    client = EventClient(server.url, PIPECAT_KEY, tmp_path / "spool.jsonl")
    bad = started_event("pc_bad") | {"event_type": "session_summary", "data": {"tokens": -1}}

    report = await client.send(bad)
    good = await client.send(started_event("pc_good"))

    assert report.rejected == 1 and good.delivered == 1
    assert client.pending() == []
    rejected = [json.loads(line) for line in client.rejected_path.read_text().splitlines()]
    assert [e["provider_call_id"] for e in rejected] == ["pc_bad"]
    assert server.store.get_call("pc_bad") is None
    assert server.store.get_call("pc_good") is not None


async def test_a_torn_last_line_from_a_crash_does_not_block_the_spool(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = start_server()
    spool = tmp_path / "spool.jsonl"
    spool.write_text(json.dumps(started_event("pc_kept")) + "\n" + '{"provider_call_id": "pc_to')
    client = EventClient(server.url, PIPECAT_KEY, spool)

    report = await client.flush()

    assert report.delivered == 1 and client.pending() == []
    assert server.store.get_call("pc_kept") is not None


async def test_a_broken_spool_never_raises_into_the_pipeline(
    make_call: Callable[..., BotCall], tmp_path: Path
) -> None:
    call = make_call("pc_broken")
    # The spool path is a directory: every write fails.
    call.session.observer._events.spool_path = tmp_path
    await call.answer()
    await call.driver_says("Driving near Austin, no problems.")

    await call.hang_up()
    await call.wait_finished()

    summary = call.session.observer.summary
    assert summary is not None and summary.transcript[1].role == "user"


async def test_a_twilio_transfer_redirects_the_live_call_to_dial_the_dispatcher() -> None:
    requests: list[httpx.Request] = []

    def twilio(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"sid": "CA123", "status": "in-progress"})

    transfer = TwilioTransfer(
        account_sid="AC1",
        auth_token="secret",
        call_sid="CA123",
        transport=httpx.MockTransport(twilio),
    )

    assert await transfer.transfer("+15550001111") is True
    [request] = requests
    assert request.url.path == "/2010-04-01/Accounts/AC1/Calls/CA123.json"
    assert request.headers["Authorization"].startswith("Basic ")
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form["Twiml"] == "<Response><Dial>+15550001111</Dial></Response>"


async def test_a_refused_twilio_transfer_reports_false_so_the_bot_ends_the_call() -> None:
    transfer = TwilioTransfer(
        account_sid="AC1",
        auth_token="wrong",
        call_sid="CA123",
        transport=httpx.MockTransport(lambda request: httpx.Response(401, json={"code": 20003})),
    )

    assert await transfer.transfer("+15550001111") is False
