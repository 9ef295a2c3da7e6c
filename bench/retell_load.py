"""What the Retell socket benchmarks share: the server under test, the echo baseline, the
simulated callers' turns, and the tally and report of what they measured.

`bench.ws_bench` (bursts of N calls) and `bench.load_bench` (sustained load with webhooks and
Pipecat events) differ in what they drive; the server, the baseline and the measuring are these.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect

from bench.processes import wait_until_up
from protocols.retell.caller import (
    CallerError,
    RetellCaller,
    llm_socket_url,
    simulated_call_details,
)

ROOT = Path(__file__).resolve().parent.parent
# With the rules agent this is a five-turn check call; the last reply ends the call.
DRIVER_LINES = (
    "Hello?",
    "Yeah, this is Jordan.",
    "I'm driving right now.",
    "I'm on I-10 near Tucson.",
    "Maybe around 3 PM.",
)
# The echo baseline's frame: the size of a `response_required` three turns into a call.
ECHO_FRAME = json.dumps(
    {
        "interaction_type": "response_required",
        "response_id": 3,
        "transcript": [{"role": "user", "content": line} for line in DRIVER_LINES[:3]],
    }
)


# --- the server under test ---------------------------------------------------------------------


class InstantPolicy:
    """Two fixed sentences at once: the server's own cost per turn, without the agent's."""

    async def stream(
        self, context: Any, transcript: Any, reminders_in_a_row: int = 0
    ) -> AsyncIterator[Any]:
        from agent import ReplyPart

        yield ReplyPart(text="Got it.", last=False)
        yield ReplyPart(text="Anything else?", last=True)


def bench_app() -> FastAPI:
    """The voice server plus a bare echo socket (the baseline), for the benchmarks only.

    BENCH_POLICY=instant swaps the agent for `InstantPolicy`, to separate the two costs.
    """
    from voice_server.main import create_app

    instant = os.environ.get("BENCH_POLICY") == "instant"
    app = create_app(policy=InstantPolicy() if instant else None)

    @app.websocket("/bench/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass

    return app


def start_server(port: int, workdir: Path, **env: str) -> subprocess.Popen[bytes]:
    """uvicorn serving `bench_app` in its own process: a fresh SQLite database and outbox in
    `workdir` and the rules agent, never the developer's `.env`; `env` overrides any of it."""
    env = {
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "OUTBOX_PATH": str(workdir / "outbox.jsonl"),
        "AGENT_LLM": "rules",
        "DISPATCH_API_KEY": "bench-key",
        "DISPATCH_ENV_FILE": "",
        **env,
    }
    command = [sys.executable, "-m", "uvicorn", "bench.retell_load:bench_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    wait_until_up(url + "/healthz", process, "the voice server", timeout=30)


def freeze_client_heap() -> None:
    """Keep this process's own full collections (its imports are ~200k objects) out of the
    figures: a 100 ms pause here would be measured as the server's latency."""
    gc.collect()
    gc.freeze()


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class TurnTally:
    echo: list[float] = field(default_factory=list)
    first_frame: list[float] = field(default_factory=list)
    complete: list[float] = field(default_factory=list)
    turns: int = 0
    lost_turns: int = 0  # asked, never completed
    protocol_errors: int = 0
    heard: dict[str, int] = field(default_factory=dict)  # call id -> transcript turns heard


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def think(pace: float) -> None:
    """A caller's pause before speaking: 0..2x `pace` seconds (none when `pace` is 0)."""
    if pace > 0:
        await asyncio.sleep(random.uniform(0, 2 * pace))


async def echo_client(
    server: str,
    out: list[float],
    *,
    pace: float,
    rounds: int | None = None,
    until: float | None = None,
    ready: Any = None,
) -> None:
    """Round trips of `ECHO_FRAME` on the bare echo socket, `rounds` of them or `until` a
    monotonic deadline; `ready` (an object with `async wait()`) starts them together."""
    async with connect(server.replace("http", "ws", 1) + "/bench/echo") as ws:
        if ready is not None:
            await ready.wait()
        done = 0
        while (rounds is None or done < rounds) and (until is None or time.monotonic() < until):
            await think(pace)
            started = time.perf_counter()
            await ws.send(ECHO_FRAME)
            await ws.recv()
            out.append(time.perf_counter() - started)
            done += 1


def simulated_caller(
    server: str, call_id: str, *, driver_name: str, load_number: str
) -> RetellCaller:
    """Retell's side of one call, pinging every 2 s like Retell."""
    details = simulated_call_details(
        call_id, driver_name=driver_name, load_number=load_number, origin="Los Angeles, CA",
        destination="Phoenix, AZ", appointment="3 PM",
    )  # fmt: skip
    return RetellCaller(
        llm_socket_url(server, call_id), call_details=details, ping_interval=2.0, reply_timeout=60
    )


async def speak_turns(
    call: RetellCaller, call_id: str, lines: tuple[str, ...], pace: float, tally: TurnTally
) -> None:
    """Say `lines` on a connected call, measuring each reply; hang up; count what went wrong."""
    try:
        for line in lines:
            await think(pace)
            tally.turns += 1
            try:
                reply = await call.say(line)
            except CallerError:
                tally.lost_turns += 1
                break
            tally.first_frame.append(reply.first_frame_secs or 0.0)
            tally.complete.append(reply.complete_secs or 0.0)
            if reply.end_call:
                break
        await call.hang_up()
    finally:
        tally.protocol_errors += len(call.protocol_errors)
        tally.heard[call_id] = len(call.transcript)


def count_short_calls(database_url: str, heard: dict[str, int], wait_secs: float) -> int:
    """Calls not ended, or saved with a shorter transcript than their caller heard, once the
    server has had up to `wait_secs` to finalize them."""
    from db import open_store
    from settings import load_settings

    store = open_store(load_settings(database_url=database_url))
    try:
        deadline = time.monotonic() + wait_secs
        while True:
            short = sum(
                1
                for call_id, turns in heard.items()
                if (call := store.get_call(call_id)) is None
                or call.status != "ended"
                or len(call.transcript) < turns
            )
            if not short or time.monotonic() > deadline:
                return short
            time.sleep(0.3)
    finally:
        store.close()


# --- the report ----------------------------------------------------------------------------------


def print_latency(tally: TurnTally, extra_echo: dict[str, list[float]] | None = None) -> None:
    """Echo round trip, then every other figure as p50/p99 and ratios to the echo p50."""
    echo_p50 = percentile(tally.echo, 0.5)
    print(
        f"  echo round trip      p50 {echo_p50 * 1000:8.2f} ms   "
        f"p99 {percentile(tally.echo, 0.99) * 1000:8.2f} ms   ({len(tally.echo)} echoes)"
    )
    measured = {
        **(extra_echo or {}),
        "first reply frame": tally.first_frame,
        "content_complete": tally.complete,
    }
    for label, values in measured.items():
        if not values:
            print(f"  {label:<20} none measured")
            continue
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(
            f"  {label:<20} p50 {p50 * 1000:8.2f} ms ({p50 / echo_p50:6.2f}x echo p50)   "
            f"p99 {p99 * 1000:8.2f} ms ({p99 / echo_p50:6.2f}x echo p50)"
        )
