"""Retell socket latency under concurrency, as a ratio to a bare WebSocket echo on the same server.

    python -m bench.ws_bench [--calls 1 50 200] [--turns 5] [--pace 0] [--policy agent|instant]

Starts the voice server (uvicorn, its own process, a fresh SQLite file, the rules agent) with
one extra route, a bare WebSocket echo. For each N: N concurrent echo clients measure the round
trip of a frame the size of a `response_required`; then N concurrent simulated Retell calls
(`voice_server.retell_caller`, pinging every 2 s like Retell) each speak `--turns` driver lines
and measure, per turn, the time from sending `response_required` to the first reply frame and to
`content_complete`. By default every client fires its turns back to back, in step with the
others (the worst case: N requests queued at once); `--pace S` waits a random 0..2S seconds
before each turn and each echo instead, as callers speaking at their own pace would.
Prints p50/p99 and their ratio to the echo p50 of the same N, protocol errors, and lost
turns: replies that never completed, plus saved transcripts shorter than what the callers heard
(checked in the database after every call has hung up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect

from voice_server.retell_caller import (
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


class InstantPolicy:
    """Two fixed sentences at once: the server's own cost per turn, without the agent's."""

    async def stream(
        self, context: Any, transcript: Any, reminders_in_a_row: int = 0
    ) -> AsyncIterator[Any]:
        from agent import ReplyPart

        yield ReplyPart(text="Got it.", last=False)
        yield ReplyPart(text="Anything else?", last=True)


def bench_app() -> FastAPI:
    """The voice server plus a bare echo socket (the baseline), for this benchmark only.

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


@dataclass
class Results:
    echo: list[float] = field(default_factory=list)
    first_frame: list[float] = field(default_factory=list)
    complete: list[float] = field(default_factory=list)
    protocol_errors: int = 0
    lost_turns: int = 0
    turns: int = 0
    call_ids: list[str] = field(default_factory=list)
    heard: dict[str, int] = field(default_factory=dict)  # call id -> transcript turns heard


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Barrier:
    """Every client connects first; turns start together, so set-up is not measured."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.all_here = asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived >= self.parties:
            self.all_here.set()
        await self.all_here.wait()


async def think(pace: float) -> None:
    if pace > 0:
        await asyncio.sleep(random.uniform(0, 2 * pace))


async def echo_client(
    url: str, rounds: int, frame: str, out: list[float], ready: Barrier, pace: float
) -> None:
    async with connect(url) as ws:
        await ready.wait()
        for _ in range(rounds):
            await think(pace)
            started = time.perf_counter()
            await ws.send(frame)
            await ws.recv()
            out.append(time.perf_counter() - started)


async def simulated_call(
    server: str, call_id: str, turns: int, results: Results, ready: Barrier, pace: float
) -> None:
    details = simulated_call_details(
        call_id,
        driver_name="Jordan Reyes",
        load_number=f"LD-{call_id[-6:]}",
        origin="Los Angeles, CA",
        destination="Phoenix, AZ",
        appointment="3 PM",
    )
    call = RetellCaller(
        llm_socket_url(server, call_id), call_details=details, ping_interval=2.0, reply_timeout=60
    )
    try:
        try:
            await call.connect()
        finally:
            await ready.wait()  # a call that failed to connect must not hold the others
        for line in DRIVER_LINES[:turns]:
            await think(pace)
            results.turns += 1
            try:
                reply = await call.say(line)
            except CallerError:
                results.lost_turns += 1
                break
            results.first_frame.append(reply.first_frame_secs or 0.0)
            results.complete.append(reply.complete_secs or 0.0)
            if reply.end_call:
                break
        await call.hang_up()
    finally:
        results.protocol_errors += len(call.protocol_errors)
        results.heard[call_id] = len(call.transcript)


async def run_level(
    server: str, calls: int, turns: int, results: Results, pace: float = 0.0
) -> None:
    frame = json.dumps(
        {
            "interaction_type": "response_required",
            "response_id": 3,
            "transcript": [{"role": "user", "content": line} for line in DRIVER_LINES[:3]],
        }
    )
    echo_url = server.replace("http", "ws", 1) + "/bench/echo"
    ready = Barrier(calls)
    await asyncio.gather(
        *(echo_client(echo_url, turns, frame, results.echo, ready, pace) for _ in range(calls))
    )
    ids = [f"bench_{calls}_{i}_{os.urandom(4).hex()}" for i in range(calls)]
    results.call_ids.extend(ids)
    ready = Barrier(calls)
    await asyncio.gather(*(simulated_call(server, cid, turns, results, ready, pace) for cid in ids))


def count_short_transcripts(database_url: str, heard: dict[str, int]) -> int:
    """Calls whose saved transcript is shorter than what the caller heard (after finalizing)."""
    from db import open_store
    from settings import load_settings

    store = open_store(load_settings(database_url=database_url))
    try:
        deadline = time.monotonic() + 10
        while True:
            short = 0
            for call_id, turns in heard.items():
                call = store.get_call(call_id)
                if call is None or len(call.transcript) < turns or call.status != "ended":
                    short += 1
            if short == 0 or time.monotonic() > deadline:
                return short
            time.sleep(0.2)
    finally:
        store.close()


def start_server(port: int, database_url: str, policy: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BENCH_POLICY": policy,
        "DATABASE_URL": database_url,
        "AGENT_LLM": "rules",
        "DISPATCH_API_KEY": "bench-key",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.ws_bench:bench_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the voice server exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the voice server did not become healthy in 30 s")


def report(calls: int, results: Results, short: int) -> None:
    echo_p50 = percentile(results.echo, 0.5)
    print(f"\nN = {calls} concurrent calls ({results.turns} turns, {len(results.echo)} echoes)")
    print(
        f"  echo round trip      p50 {echo_p50 * 1000:8.2f} ms   "
        f"p99 {percentile(results.echo, 0.99) * 1000:8.2f} ms"
    )
    measured = (("first reply frame", results.first_frame), ("content_complete", results.complete))
    for label, values in measured:
        if not values:
            print(f"  {label:<20} no completed turns")
            continue
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(
            f"  {label:<20} p50 {p50 * 1000:8.2f} ms ({p50 / echo_p50:5.2f}x echo)   "
            f"p99 {p99 * 1000:8.2f} ms ({p99 / echo_p50:5.2f}x echo p50)"
        )
    print(
        f"  protocol errors {results.protocol_errors}, lost turns {results.lost_turns}, "
        f"calls saved with a short transcript {short}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--turns", type=int, default=len(DRIVER_LINES))
    parser.add_argument("--pace", type=float, default=0.0, help="mean seconds between turns")
    parser.add_argument(
        "--policy",
        choices=["agent", "instant"],
        default="agent",
        help="agent: the rules agent; instant: fixed replies, the server's own cost only",
    )
    args = parser.parse_args()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        server = start_server(port, database_url, args.policy)
        try:
            wait_healthy(url, server)
            pacing = f"paced, mean {args.pace} s between turns" if args.pace else "in lockstep"
            agent = "rules agent" if args.policy == "agent" else "instant policy"
            print(f"voice server at {url} (SQLite, {agent}), {args.turns} turns/call {pacing}")
            for calls in args.calls:
                results = Results()
                asyncio.run(run_level(url, calls, args.turns, results, args.pace))
                short = count_short_transcripts(database_url, results.heard)
                report(calls, results, short)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
