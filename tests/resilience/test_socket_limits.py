"""One Retell socket must not hurt the others, and a socket must earn its call row.

A valid frame of 150,000 turns (~6 MB) is parsed away from the server process and its transcript
bounded, so a normal call keeps its pace and the memory goes when the socket closes; a socket
that says nothing leaves no row and is closed when idle; with RETELL_API_KEY set a call id
Retell does not know is refused; a reconnect is never greeted again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.huge_frame_bench import huge_frame
from db.models import CallStatus
from db.sqlite_store import SqliteStore
from protocols.retell.caller import RetellCaller, llm_socket_url
from protocols.retell.messages import parse_server_message
from tests.resilience.conftest import (
    eventually,
    read_call,
    server_env,
    sqlite_write_locked,
)
from tests.resilience.traffic import DRIVER_TURNS, call_details, retell_call
from tests.voice_server.conftest import API_KEY
from tests.voice_server.retell_api_double import RetellApiDouble
from voice_server.retell_frames import MAX_TRANSCRIPT_TURNS

HUGE_TURNS = 150_000
NORMAL_TURN_TIMEOUT_SECS = 2.0  # the huge frames stalled every call for 3.5-8 s each


async def send_huge(server_url: str, call_id: str, frame: str) -> str:
    """Open a socket, send one huge request, return the agent's complete reply to it."""
    async with connect(llm_socket_url(server_url, call_id), max_size=2**22) as ws:
        await ws.send(frame)
        spoken = []
        while True:
            message = parse_server_message(await ws.recv())
            if getattr(message, "response_id", None) == 1:
                spoken.append(message.content)
                if message.content_complete:
                    return "".join(spoken)


def resident_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def test_three_huge_frames_neither_stall_a_normal_call_nor_keep_their_memory(
    spawn_server: Callable[..., Any], tmp_path: Path
) -> None:
    database = tmp_path / "huge.db"
    SqliteStore(database).migrate()
    url = f"sqlite:///{database}"
    server = spawn_server(server_env(url, tmp_path / "outbox.jsonl"))
    frame = huge_frame(HUGE_TURNS)
    normal = RetellCaller(
        llm_socket_url(server.url, "call_normal"),
        call_details=call_details("call_normal"),
        ping_interval=None,
        reply_timeout=NORMAL_TURN_TIMEOUT_SECS,
    )
    async with normal:
        await normal.say(DRIVER_TURNS[0])
        baseline_mib = resident_mib(server.process.pid)
        huge = [
            asyncio.create_task(send_huge(server.url, f"call_huge_{n}", frame)) for n in range(3)
        ]
        turns = 0
        while not all(task.done() for task in huge) or turns < 3:
            await normal.say(f"Still rolling, mile {turns}.")  # fails past the timeout
            turns += 1
        replies = await asyncio.gather(*huge)
    assert all(reply for reply in replies)
    for n in range(3):
        call = await eventually(
            lambda n=n: (c := read_call(url, f"call_huge_{n}")) and c.status == CallStatus.ENDED
        )
        stored = read_call(url, f"call_huge_{n}")
        assert len(stored.transcript) <= MAX_TRANSCRIPT_TURNS + 1  # and the reply
        assert stored.transcript[-2]["content"] == "I'm near Tucson, on time."
    assert call
    # The frames were parsed elsewhere and nothing of them is held: the server stays near its
    # size (it grew by 740 MB for these three, and most of it stayed).
    await asyncio.sleep(0.5)
    assert resident_mib(server.process.pid) - baseline_mib < 100


@pytest.fixture
def retell_api() -> Any:
    double = RetellApiDouble().start()
    double.calls["call_known_to_retell"] = {"call_id": "call_known_to_retell", "agent_id": "a1"}
    yield double
    double.stop()


async def test_a_socket_for_a_call_retell_does_not_know_is_refused(
    serve: Callable[..., Any], make_settings: Callable[..., Any], retell_api: Any
) -> None:
    settings = make_settings(retell_verify_call_ids=True, retell_base_url=retell_api.url)
    server = serve(settings)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(llm_socket_url(server.url, "call_made_up")):
            pass
    assert refused.value.response.status_code == 403
    for _ in range(2):  # a reconnect is not a second question to Retell
        caller = await retell_call(server.url, "call_known_to_retell", turns=DRIVER_TURNS[:1])
        assert caller.begin is not None
    asked = [r.path for r in retell_api.requests if r.method == "GET"]
    assert asked == ["/v2/get-call/call_made_up", "/v2/get-call/call_known_to_retell"]
    assert (
        retell_api.requests[0].headers["authorization"]
        == f"Bearer {settings.retell_api_key.get_secret_value()}"
    )
    # Our own simulated calls show the dispatch key instead; Retell is not asked.
    ours = RetellCaller(llm_socket_url(server.url, "sim_ours"), ping_interval=None, api_key=API_KEY)
    async with ours:
        assert ours.begin is not None
    assert len(retell_api.requests) == 2


async def test_a_silent_socket_creates_no_call_and_is_closed_when_idle(
    serve: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    settings = make_settings(retell_socket_idle_secs=1.0)
    server = serve(settings)
    async with connect(llm_socket_url(server.url, "call_silent")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)  # config, the greeting, then the close
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    # A call that spoke afterwards has its row; the silent one never got one.
    await retell_call(server.url, "call_spoke", turns=DRIVER_TURNS[:1])
    await eventually(
        lambda: (c := read_call(settings.database_url, "call_spoke")) and c.status == "ended"
    )
    assert read_call(settings.database_url, "call_silent") is None


async def test_a_reconnect_is_not_greeted_again_before_any_write_landed(
    serve_unwritable: Callable[..., Any],
) -> None:
    # No outbox either: the greeting is known to this process only.
    server, settings, blocked = serve_unwritable()
    with sqlite_write_locked(settings.sqlite_path):
        first = await retell_call(server.url, "call_reconnects", turns=DRIVER_TURNS[:1])
        assert "Maria" in first.begin.text
        again = await retell_call(server.url, "call_reconnects", turns=DRIVER_TURNS[1:2])
        assert again.begin.text == ""
        assert read_call(settings.database_url, "call_reconnects") is None
        blocked.unlink()
    await eventually(
        lambda: (
            (c := read_call(settings.database_url, "call_reconnects"))
            and c.status == CallStatus.ENDED
        ),
        timeout=30,
    )
