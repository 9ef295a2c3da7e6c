"""A normal call's worst turn latency while three huge frames arrive, against the same call
without them, and the voice server's memory after the huge sockets closed.

    python -m bench.huge_frame_bench [--turns 20] [--huge-turns 150000]

Starts the voice server (uvicorn, its own process, a fresh SQLite file, the rules agent). One
simulated Retell call speaks `--turns` driver lines (a short random pause between them) and
measures each reply to `content_complete`: first alone (the baseline), then while three other
sockets each send one valid `response_required` carrying `--huge-turns` short turns (150,000
is ~6 MB; before the fix each stalled every call for 3.5-8 s and left hundreds of MB behind).
Prints the worst and median turn latency of both runs and their ratio, and the server's
resident memory at start, at its peak and after the huge sockets closed (its own process, and
with its frame-parser processes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

from bench.processes import free_port, stop
from bench.retell_load import (
    DRIVER_LINES,
    freeze_client_heap,
    simulated_caller,
    start_server,
    wait_healthy,
)
from protocols.retell.caller import llm_socket_url
from protocols.retell.messages import parse_server_message

HUGE_SOCKETS = 3


def huge_frame(turns: int) -> str:
    transcript = [
        {"role": "agent" if n % 2 == 0 else "user", "content": f"turn {n} ok"} for n in range(turns)
    ]
    transcript.append({"role": "user", "content": "I'm near Tucson, on time."})
    return json.dumps(
        {"interaction_type": "response_required", "response_id": 1, "transcript": transcript}
    )


async def send_huge(server: str, call_id: str, frame: str) -> None:
    async with connect(llm_socket_url(server, call_id), max_size=2**22) as ws:
        await ws.send(frame)
        while True:
            message = parse_server_message(await ws.recv())
            if getattr(message, "response_id", None) == 1 and message.content_complete:
                return


def resident_mib(pid: int, *, with_children: bool = False) -> float:
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        rss = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        total += int(rss.split()[1]) / 1024
        if with_children:
            pids += [int(child) for child in children]
    return total


async def normal_call(
    server: str, call_id: str, turns: int, frame: str | None, peak: list[float], pid: int
) -> list[float]:
    """Latencies (s) of a normal call's turns; with `frame`, huge sockets arrive meanwhile."""
    caller = simulated_caller(server, call_id, driver_name="Maria Lopez", load_number="LD-1")
    latencies: list[float] = []
    async with caller:
        huge = [
            asyncio.create_task(send_huge(server, f"{call_id}_huge_{n}", frame))
            for n in range(HUGE_SOCKETS if frame else 0)
        ]
        said = 0
        while said < turns or not all(task.done() for task in huge):
            await asyncio.sleep(random.uniform(0.02, 0.1))
            started = time.perf_counter()
            await caller.say(DRIVER_LINES[said % len(DRIVER_LINES)])
            latencies.append(time.perf_counter() - started)
            peak.append(resident_mib(pid, with_children=True))
            said += 1
        await asyncio.gather(*huge)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--huge-turns", type=int, default=150_000)
    args = parser.parse_args()
    frame = huge_frame(args.huge_turns)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(port, Path(tmp), RETELL_API_KEY="")
        try:
            wait_healthy(url, server)
            freeze_client_heap()
            start_mib = resident_mib(server.pid)
            peak: list[float] = []
            alone = asyncio.run(normal_call(url, "call_alone", args.turns, None, peak, server.pid))
            peak.clear()
            loaded = asyncio.run(
                normal_call(url, "call_loaded", args.turns, frame, peak, server.pid)
            )
            time.sleep(2.0)  # the huge sockets' rows are written, their tasks gone
            after_mib = resident_mib(server.pid)
            after_all_mib = resident_mib(server.pid, with_children=True)
        finally:
            stop(server)
    ms = 1000
    print(
        f"normal call, {len(alone)} turns alone: worst {max(alone) * ms:.0f} ms, "
        f"p50 {statistics.median(alone) * ms:.0f} ms"
    )
    print(
        f"normal call, {len(loaded)} turns while {HUGE_SOCKETS} frames of {args.huge_turns:,} "
        f"turns ({len(frame) / 2**20:.1f} MiB each) arrive: worst {max(loaded) * ms:.0f} ms "
        f"({max(loaded) / max(alone):.1f}x alone), p50 {statistics.median(loaded) * ms:.0f} ms "
        f"({statistics.median(loaded) / statistics.median(alone):.1f}x)"
    )
    print(
        f"server memory (RSS): {start_mib:.0f} MiB at start, peak {max(peak):.0f} MiB with its "
        f"frame parser, {after_mib:.0f} MiB after the huge sockets closed "
        f"({after_mib - start_mib:+.0f} MiB; {after_all_mib:.0f} MiB with the parser processes)"
    )


if __name__ == "__main__":
    main()
