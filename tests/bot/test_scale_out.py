"""Two bot processes behind one voice server, on the real PostgreSQL: no session is pinned to
the process that registered it.

The voice server places a session (BOT_URLS) and the driver phones the OTHER bot process over
Twilio's media-stream protocol with real audio (espeak-ng, 8 kHz mu-law, paced in real time):
the token resolves from the database, the call ends with the right driver, load and structured
result, and the same token a second time is refused. Then a bot process is killed (SIGKILL)
mid-call: the process started after it adopts its spool file and delivers the summary of the
call it was in.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import psycopg
import pytest

from bench.phone_caller import PhoneCall
from db.postgres_store import PostgresStore
from tests.bot.conftest import BotProcess, ended_call, start_pipecat_session
from tests.bot.test_phone_call import CHECK_IN as PHONED_CHECK_IN
from tests.conftest import free_port
from tests.voice_server.conftest import RunningServer
from voice_server.engines.pipecat import stream_url

pytestmark = pytest.mark.postgres

# The phone-call test's check-in: the full update, then its parts again only while the agent
# still asks (drivers repeat themselves on a bad line; Whisper tiny.en mishears espeak-ng now and
# then).
CHECK_IN = PHONED_CHECK_IN.context
CHECK_IN_LINES = PHONED_CHECK_IN.lines
CUT_OFF = CHECK_IN | {
    "driver_name": "Tom Becker",
    "driver_phone": "+14155550188",
    "load_number": "A-2231",
}


def joined_by(database_url: str, token: str) -> str | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select joined_by from bot_sessions where token = %s", (token,))
        return (row.fetchone() or (None,))[0]


@pytest.mark.flaky(reruns=1)  # real audio on shared cores, as tests/bot/test_phone_call.py
async def test_sessions_join_on_any_bot_process_once_and_survive_a_killed_one(
    start_server: Callable[..., RunningServer],
    bot_processes: Callable[..., BotProcess],
    postgres_database: Callable[[], str],
) -> None:
    database_url = postgres_database()
    PostgresStore(database_url).migrate()
    ports = free_port(), free_port()
    voice = start_server(
        database_url=database_url,
        bot_urls=",".join(f"http://127.0.0.1:{port}" for port in ports),
    )
    first, second = await asyncio.gather(
        *(
            asyncio.to_thread(
                bot_processes, DATABASE_URL=database_url, voice_server_url=voice.url, port=port
            )
            for port in ports
        )
    )
    bots = {bot.url: bot for bot in (first, second)}

    # 1. Placed on one bot, phoned in on the other, with real audio.
    started = start_pipecat_session(voice.url, mode="phone", **CHECK_IN)
    placed_on = next(url for url in bots if started["join_url"] == stream_url(url, "/ws"))
    other = next(bot for url, bot in bots.items() if url != placed_on)
    token = started["details"]["session"]
    call = PhoneCall(stream_url(other.url, "/ws"), started["details"]["stream_parameters"])
    async with call:
        assert await call.listen(), "the agent greets the driver"
        for line in CHECK_IN_LINES:
            if not call.is_open:
                break
            await call.say(line)
            await call.listen()
        await call.wait_for_hang_up()
    assert joined_by(database_url, token) == other.joined_by

    saved = await ended_call(voice.store, started["provider_call_id"])
    assert (saved.driver_name, saved.load_number) == ("Maria Lopez", "7731")
    result = saved.structured or {}
    assert result["call_outcome"] == "In-Transit Update", saved.transcript
    assert result["current_location"] == "I-40 near Amarillo", saved.transcript
    assert result["eta"] == "4 pm", saved.transcript
    assert call.closed_by_bot, "the agent ends the call once it has the update"

    # 2. The same token a second time, on the bot it was registered with: refused, no session.
    again = PhoneCall(started["join_url"], started["details"]["stream_parameters"])
    async with again:
        await again.listen(timeout_secs=10)
        assert not again.is_open and again.closed_by_bot
    assert not again.turns or all(t.latency_secs is None for t in again.turns)
    assert "Session token spent, expired or unknown" in bots[placed_on].log.read_text()

    # 3. A bot killed mid-call: the process started next delivers that call's summary.
    cut = start_pipecat_session(voice.url, mode="phone", **CUT_OFF)
    victim = next(bot for url, bot in bots.items() if cut["join_url"] == stream_url(url, "/ws"))
    call = PhoneCall(cut["join_url"], cut["details"]["stream_parameters"])
    async with call:
        assert await call.listen(), "the agent greets the driver"
        await call.say("I'm on I 40 near Amarillo.")
        await call.listen()
        await asyncio.sleep(1.0)  # the checkpoint follows the transcript within 0.25 s
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        await call.listen(timeout_secs=5)
    assert voice.store.get_call(cut["provider_call_id"]).status != "ended"

    successor = await asyncio.to_thread(
        bot_processes, DATABASE_URL=database_url, voice_server_url=voice.url
    )
    lost = await ended_call(voice.store, cut["provider_call_id"])
    assert lost.disconnection_reason == "bot_process_lost"
    assert (lost.driver_name, lost.load_number) == ("Tom Becker", "A-2231")
    assert [t["role"] for t in lost.transcript][:2] == ["agent", "user"], lost.transcript
    assert lost.structured is not None
    assert "summary(ies) of sessions cut off by a dead bot process" in successor.log.read_text()
