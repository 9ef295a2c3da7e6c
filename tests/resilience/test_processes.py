"""Voice servers as separate processes: one killed mid-call, two behind a non-sticky balancer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from db.models import Call, CallStatus, Provider
from protocols.retell.caller import RetellCaller, llm_socket_url
from tests.resilience import traffic
from tests.resilience.conftest import (
    PrivatePostgres,
    ServerProcess,
    eventually,
    read_call,
    server_env,
)


def caller_for(server_url: str, call_id: str) -> RetellCaller:
    return RetellCaller(
        llm_socket_url(server_url, call_id),
        call_details=traffic.call_details(call_id),
        ping_interval=None,
        reply_timeout=15,
    )


async def reconnect(
    server_url: str, call_id: str, transcript: list[dict[str, str]]
) -> RetellCaller:
    """Retell's reconnect: the same call id, and every later request carries the transcript."""
    caller = caller_for(server_url, call_id)
    await caller.connect()
    caller.transcript = [dict(turn) for turn in transcript]
    return caller


def ended_with(database_url: str, call_id: str, turns: int) -> Callable[[], Call | None]:
    def check() -> Call | None:
        call = read_call(database_url, call_id)
        ok = call is not None and call.status == CallStatus.ENDED and len(call.transcript) == turns
        return call if ok else None

    return check


async def test_a_killed_server_restarted_continues_the_call_on_reconnect(
    spawn_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'killed.db'}"
    env = server_env(database_url, tmp_path / "outbox.jsonl")
    server = spawn_server(env)
    call_id = "call_killed_midway"

    first = caller_for(server.url, call_id)
    await first.connect()
    await first.say(traffic.DRIVER_TURNS[0])
    server.kill()  # no finalization, maybe not even the last transcript flush
    await asyncio.wait_for(first.closed.wait(), 10)

    restarted = spawn_server(env, port=server.port)
    second = await reconnect(restarted.url, call_id, first.transcript)
    for text in traffic.DRIVER_TURNS[1:]:
        await second.say(text)
    await second.hang_up()

    turns = 1 + 2 * len(traffic.DRIVER_TURNS)
    call = await eventually(ended_with(database_url, call_id, turns))
    assert call.transcript == second.transcript
    assert call.transcript[:3] == first.transcript
    assert call.structured and call.driver_name == "Maria Lopez"
    assert first.protocol_errors == second.protocol_errors == []
    page = await asyncio.to_thread(_calls_with_id, database_url, call_id)
    assert page == 1


def _calls_with_id(database_url: str, call_id: str) -> int:
    return traffic.count_rows(database_url, "calllog", call_id)


async def one_turn_per_connection(
    servers: list[ServerProcess], database_url: str, call_id: str
) -> list[dict[str, str]]:
    """Every driver turn on a new socket to the next server, as a balancer without stickiness
    would route Retell's reconnects. Between turns the row catches up (a driver speaks for
    seconds between turns), so each server starts from the saved call."""
    first = caller_for(servers[0].url, call_id)
    await first.connect()
    transcript = list(first.transcript)
    await first.hang_up()
    for number, text in enumerate(traffic.DRIVER_TURNS):
        await eventually(ended_with(database_url, call_id, len(transcript)))
        server = servers[(number + 1) % len(servers)]
        caller = await reconnect(server.url, call_id, transcript)
        assert caller.begin.text == ""  # no second greeting on a call that already began
        await caller.say(text)
        assert caller.protocol_errors == []
        transcript = list(caller.transcript)
        await caller.hang_up()
    return transcript


async def test_two_servers_on_one_postgres_alternating_turns_make_one_complete_call(
    spawn_server: Callable[..., ServerProcess],
    postgres_database: Callable[[], str],
    tmp_path: Path,
) -> None:
    database_url = postgres_database()
    servers = [
        spawn_server(server_env(database_url, tmp_path / "outbox-a.jsonl")),
        spawn_server(server_env(database_url, tmp_path / "outbox-b.jsonl")),
    ]
    transcript = await one_turn_per_connection(servers, database_url, "call_balanced")

    # The same conversation on a single server, for the reference result.
    alone = caller_for(servers[0].url, "call_single")
    async with alone:
        for text in traffic.DRIVER_TURNS:
            await alone.say(text)

    turns = 1 + 2 * len(traffic.DRIVER_TURNS)
    balanced = await eventually(ended_with(database_url, "call_balanced", turns))
    single = await eventually(ended_with(database_url, "call_single", turns))
    assert balanced.transcript == transcript
    assert [t["content"] for t in balanced.transcript] == [t["content"] for t in single.transcript]
    assert balanced.structured == single.structured and balanced.structured
    assert (balanced.call_outcome, balanced.driver_status) == (
        single.call_outcome,
        single.driver_status,
    )
    assert balanced.driver_name == single.driver_name == "Maria Lopez"
    assert await asyncio.to_thread(_calls_with_id, database_url, "call_balanced") == 1


async def test_writes_queued_during_an_outage_survive_a_kill_and_land_after_restart(
    spawn_server: Callable[..., ServerProcess], private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    database_url = private_postgres.create_database()
    env = server_env(database_url, tmp_path / "outbox.jsonl")
    server = spawn_server(env)
    body = traffic.webhook_body("call_queued_then_killed")
    summary = traffic.pipecat_summary("pc_queued_then_killed")
    private_postgres.stop()
    try:
        assert traffic.post_webhook(server.url, body).status_code == 200
        assert traffic.post_pipecat(server.url, summary).status_code == 200
        assert httpx.get(server.url + "/healthz").json()["outbox_depth"] > 0
        server.kill()  # acknowledged, queued, and the process is gone
    finally:
        private_postgres.start()

    restarted = spawn_server(env, port=server.port)
    await eventually(lambda: httpx.get(restarted.url + "/healthz").json()["status"] == "ok")
    webhook_call = read_call(database_url, "call_queued_then_killed")
    assert webhook_call.status == CallStatus.ENDED and webhook_call.driver_name == "Ana Ruiz"
    pipecat_call = read_call(database_url, "pc_queued_then_killed", Provider.PIPECAT)
    assert pipecat_call.tokens_estimated == 812
    for call_id in ("call_queued_then_killed", "pc_queued_then_killed"):
        assert traffic.count_rows(database_url, "calllog", call_id) == 1
        assert traffic.count_rows(database_url, "call_events", call_id) == 1
