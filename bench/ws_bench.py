"""Retell socket latency under concurrency, as a ratio to a bare WebSocket echo on the same server.

    python -m bench.ws_bench [--calls 1 50 200] [--turns 5] [--pace 0] [--policy agent|instant]

Starts the voice server (uvicorn, its own process, a fresh SQLite file, the rules agent) with
one extra route, a bare WebSocket echo. For each N: N concurrent echo clients measure the round
trip of a frame the size of a `response_required`; then N concurrent simulated Retell calls
(`protocols.retell.caller`, pinging every 2 s like Retell) each speak `--turns` driver lines
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
import os
import tempfile
from pathlib import Path

from bench.processes import free_port, stop
from bench.retell_load import (
    DRIVER_LINES,
    TurnTally,
    count_short_calls,
    echo_client,
    freeze_client_heap,
    print_latency,
    simulated_caller,
    speak_turns,
    start_server,
    wait_healthy,
)


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


async def simulated_call(
    server: str, call_id: str, turns: int, tally: TurnTally, ready: Barrier, pace: float
) -> None:
    call = simulated_caller(
        server, call_id, driver_name="Jordan Reyes", load_number=f"LD-{call_id[-6:]}"
    )
    try:
        await call.connect()
    finally:
        await ready.wait()  # a call that failed to connect must not hold the others
    await speak_turns(call, call_id, DRIVER_LINES[:turns], pace, tally)


async def run_level(server: str, calls: int, turns: int, tally: TurnTally, pace: float) -> None:
    ready = Barrier(calls)
    await asyncio.gather(
        *(
            echo_client(server, tally.echo, pace=pace, rounds=turns, ready=ready)
            for _ in range(calls)
        )
    )
    ids = [f"bench_{calls}_{i}_{os.urandom(4).hex()}" for i in range(calls)]
    ready = Barrier(calls)
    await asyncio.gather(*(simulated_call(server, cid, turns, tally, ready, pace) for cid in ids))


def report(calls: int, tally: TurnTally, short: int) -> None:
    print(f"\nN = {calls} concurrent calls ({tally.turns} turns)")
    print_latency(tally)
    print(
        f"  protocol errors {tally.protocol_errors}, lost turns {tally.lost_turns}, "
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

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        server = start_server(port, Path(tmp), DATABASE_URL=database_url, BENCH_POLICY=args.policy)
        try:
            wait_healthy(url, server)
            pacing = f"paced, mean {args.pace} s between turns" if args.pace else "in lockstep"
            agent = "rules agent" if args.policy == "agent" else "instant policy"
            print(f"voice server at {url} (SQLite, {agent}), {args.turns} turns/call {pacing}")
            freeze_client_heap()
            for calls in args.calls:
                tally = TurnTally()
                asyncio.run(run_level(url, calls, args.turns, tally, args.pace))
                short = count_short_calls(database_url, tally.heard, wait_secs=10)
                report(calls, tally, short)
        finally:
            stop(server)


if __name__ == "__main__":
    main()
