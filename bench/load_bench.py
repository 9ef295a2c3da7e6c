"""Sustained load: concurrent Retell calls while webhooks and Pipecat summaries stream in.

    python -m bench.load_bench [--calls 200] [--seconds 60] [--pace 1.0] [--postgres]

Starts the voice server (uvicorn, its own process, the rules agent, a fresh SQLite file or with
`--postgres` a fresh PostgreSQL database) with the bare WebSocket echo route of
bench.retell_load (shared with bench.ws_bench).
First, `--calls` echo clients at the same pace measure the echo round trip (the baseline).
Then for `--seconds`: `--calls` simulated Retell calls at once (protocols.retell.caller,
pinging every 2 s like Retell; each slot dials a new call when the previous one ends), signed
Retell webhooks (call_started / call_ended / call_analyzed per call, a tenth of them delivered
twice as Retell's retries would) and Pipecat session summaries (a tenth delivered twice).
Afterwards it waits for the outbox to drain and counts in the database: every call ended with
the transcript its caller heard, every accepted webhook and event stored exactly once.
Prints p50/p99 turn latency (first reply frame, content_complete) as ratios to the echo p50,
and the echo of ten clients running during the load (what the loop itself does to any frame).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from retell.lib.webhook_auth import symmetric

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
from protocols import pipecat_events as wire
from protocols.retell.caller import CallerError

RETELL_KEY = "key_bench_" + uuid.uuid4().hex
PIPECAT_KEY = "pk_bench_" + uuid.uuid4().hex
DISPATCH_KEY = "dk_bench_" + uuid.uuid4().hex
ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://dispatch:dispatch@127.0.0.1:5432/postgres"
)


@dataclass
class Tally(TurnTally):
    echo_under_load: list[float] = field(default_factory=list)  # a few echo clients meanwhile
    failed_connects: int = 0
    webhooks: set[tuple[str, str]] = field(default_factory=set)  # accepted (call id, event)
    events: set[str] = field(default_factory=set)  # accepted pipecat call ids
    deliveries: Counter[str] = field(default_factory=Counter)  # "webhook 200", "event 503", ...
    health: Counter[str] = field(default_factory=Counter)
    max_outbox_depth: int = 0


async def call_slot(server: str, slot: int, deadline: float, pace: float, tally: Tally) -> None:
    """One line of the switchboard: a call after another until the time is up."""
    while time.monotonic() < deadline:
        call_id = f"load_{slot}_{uuid.uuid4().hex[:10]}"
        call = simulated_caller(
            server, call_id, driver_name=f"Driver {slot}", load_number=f"LD-{slot:04d}"
        )
        try:
            await call.connect()
        except (CallerError, OSError, TimeoutError):
            tally.failed_connects += 1
            await asyncio.sleep(1)
            continue
        await speak_turns(call, call_id, DRIVER_LINES, pace, tally)


def webhook_body(call_id: str, event: str, started_ms: int) -> str:
    call = {
        "call_id": call_id, "agent_id": "agent_bench", "call_type": "phone_call",
        "call_status": "ongoing" if event == "call_started" else "ended",
        "direction": "outbound", "from_number": "+15550002222", "to_number": "+14155550123",
        "retell_llm_dynamic_variables": {"driver_name": "Webhook Driver", "load_number": "LD-W"},
        "start_timestamp": started_ms,
    }  # fmt: skip
    if event != "call_started":
        call.update(
            end_timestamp=started_ms + 60_000,
            duration_ms=60_000,
            disconnection_reason="agent_hangup",
            transcript_object=[{"role": "agent", "content": "Hi.", "words": []}],
        )
    if event == "call_analyzed":
        call["call_analysis"] = {"call_summary": "ok", "user_sentiment": "Positive"}
    return json.dumps({"event": event, "call": call})


async def stream_webhooks(
    client: httpx.AsyncClient, server: str, rate: float, deadline: float, tally: Tally
) -> None:
    """Retell's webhooks for calls of their own, three events each, some delivered twice."""
    while time.monotonic() < deadline:
        call_id = f"hook_{uuid.uuid4().hex[:12]}"
        started_ms = int(time.time() * 1000)
        for event in ("call_started", "call_ended", "call_analyzed"):
            body = webhook_body(call_id, event, started_ms)
            for _ in range(2 if random.random() < 0.1 else 1):
                headers = {
                    "x-retell-signature": symmetric["sign"](body, RETELL_KEY),
                    "content-type": "application/json",
                }
                try:
                    response = await client.post(
                        server + "/api/v1/retell/webhook", content=body, headers=headers
                    )
                except httpx.HTTPError:
                    tally.deliveries["webhook transport error"] += 1
                    continue
                tally.deliveries[f"webhook {response.status_code}"] += 1
                if response.status_code == 200:
                    tally.webhooks.add((call_id, event))
            await asyncio.sleep(random.expovariate(rate))


async def stream_pipecat(
    client: httpx.AsyncClient, server: str, rate: float, deadline: float, tally: Tally
) -> None:
    while time.monotonic() < deadline:
        call_id = f"pcb_{uuid.uuid4().hex[:12]}"
        summary = wire.SessionSummary(
            duration_secs=42.0, keyword_hits={"traffic": 1}, sentiment=0.2, tokens=300,
            turns=wire.TurnCounts(user=3, bot=4),
            transcript=[wire.TranscriptItem(role="agent", content="Hi, dispatch here."),
                        wire.TranscriptItem(role="user", content="All good, on I-40.")],
            structured={"call_outcome": "In-Transit Update", "driver_status": "Driving"},
            context=wire.SessionContext(driver_name="Pipecat Driver", load_number="LD-P"),
        )  # fmt: skip
        event = wire.PipecatEvent(
            provider_call_id=call_id,
            event_type=wire.SESSION_SUMMARY,
            event_id=f"{call_id}-summary",
            data=summary.model_dump(mode="json"),
        ).model_dump(mode="json")
        for _ in range(2 if random.random() < 0.1 else 1):
            try:
                response = await client.post(
                    server + "/api/v1/pipecat/event",
                    json=event,
                    headers={"Authorization": f"Bearer {PIPECAT_KEY}"},
                )
            except httpx.HTTPError:
                tally.deliveries["event transport error"] += 1
                continue
            tally.deliveries[f"event {response.status_code}"] += 1
            if response.status_code == 200:
                tally.events.add(call_id)
        await asyncio.sleep(random.expovariate(rate))


async def watch_health(client: httpx.AsyncClient, server: str, deadline: float, tally: Tally):
    while time.monotonic() < deadline:
        try:
            health = (await client.get(server + "/healthz")).json()
            tally.health[health["status"]] += 1
            tally.max_outbox_depth = max(tally.max_outbox_depth, health.get("outbox_depth", 0))
        except (httpx.HTTPError, ValueError):
            tally.health["no answer"] += 1
        await asyncio.sleep(1)


async def run_load(server: str, args: argparse.Namespace, tally: Tally) -> None:
    baseline_until = time.monotonic() + args.echo_seconds
    await asyncio.gather(
        *(
            echo_client(server, tally.echo, pace=args.pace, until=baseline_until)
            for _ in range(args.calls)
        )
    )
    deadline = time.monotonic() + args.seconds
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(
            *(call_slot(server, slot, deadline, args.pace, tally) for slot in range(args.calls)),
            stream_webhooks(client, server, args.webhooks_per_sec, deadline, tally),
            stream_pipecat(client, server, args.events_per_sec, deadline, tally),
            watch_health(client, server, deadline, tally),
            *(
                echo_client(server, tally.echo_under_load, pace=args.pace, until=deadline)
                for _ in range(10)
            ),
        )
        # Let the last writes and any queued ones land.
        for _ in range(60):
            if (await client.get(server + "/healthz")).json().get("outbox_depth", 0) == 0:
                break
            await asyncio.sleep(1)


# --- counting in the database ------------------------------------------------------------------


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


RETELL_CALL_ROWS = (
    "SELECT provider_call_id FROM calllog WHERE provider_call_id LIKE 'load!_%' ESCAPE '!'"
)
WEBHOOK_EVENT_ROWS = (
    "SELECT provider_call_id, event_type FROM call_events "
    "WHERE provider_call_id LIKE 'hook!_%' ESCAPE '!'"
)
PIPECAT_EVENT_ROWS = (
    "SELECT provider_call_id FROM call_events WHERE provider_call_id LIKE 'pcb!_%' ESCAPE '!'"
)
PIPECAT_ENDED_CALL_ROWS = (
    "SELECT provider_call_id FROM calllog "
    "WHERE provider_call_id LIKE 'pcb!_%' ESCAPE '!' AND status = 'ended'"
)


def count_losses(database_url: str, tally: Tally) -> dict[str, int]:
    """Compare what the clients saw acknowledged with what the database holds."""
    short = count_short_calls(database_url, tally.heard, wait_secs=30)
    retell_rows = Counter(row[0] for row in query(database_url, RETELL_CALL_ROWS))
    stored_hooks = Counter((row[0], row[1]) for row in query(database_url, WEBHOOK_EVENT_ROWS))
    stored_events = Counter(row[0] for row in query(database_url, PIPECAT_EVENT_ROWS))
    pipecat_calls = Counter(row[0] for row in query(database_url, PIPECAT_ENDED_CALL_ROWS))
    return {
        "calls missing, not ended or with a short transcript": short,
        "calls stored more than once": sum(1 for n in retell_rows.values() if n > 1),
        "accepted webhooks missing": len(tally.webhooks - set(stored_hooks)),
        "webhooks stored more than once": sum(1 for n in stored_hooks.values() if n > 1),
        "accepted pipecat events missing": len(tally.events - set(stored_events)),
        "pipecat events stored more than once": sum(1 for n in stored_events.values() if n > 1),
        "pipecat calls missing or not ended": len(tally.events - set(pipecat_calls)),
    }


# --- the server and the report -----------------------------------------------------------------


def server_env(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DISPATCH_API_KEY": DISPATCH_KEY,
        "RETELL_API_KEY": RETELL_KEY,
        "RETELL_VERIFY_CALL_IDS": "false",  # the bench's call ids are its own, not Retell's
        "PIPECAT_API_KEY": PIPECAT_KEY,
        "SUPABASE_URL": "",
        "SUPABASE_SERVICE_ROLE_KEY": "",
    }


def report(args: argparse.Namespace, tally: Tally, losses: dict[str, int]) -> None:
    print(
        f"\n{args.calls} concurrent Retell calls for {args.seconds:.0f} s "
        f"({len(tally.heard)} calls, {tally.turns} turns), "
        f"{sum(v for k, v in tally.deliveries.items() if k.startswith('webhook'))} webhook and "
        f"{sum(v for k, v in tally.deliveries.items() if k.startswith('event'))} Pipecat "
        "deliveries"
    )
    print_latency(tally, {"echo during the load": tally.echo_under_load})
    print(
        f"  protocol errors {tally.protocol_errors}, lost turns {tally.lost_turns}, "
        f"failed connects {tally.failed_connects}"
    )
    print(f"  deliveries: {dict(sorted(tally.deliveries.items()))}")
    print(
        f"  /healthz during the run: {dict(tally.health)}, max outbox depth "
        f"{tally.max_outbox_depth}"
    )
    print("  counted in the database afterwards:")
    for name, value in losses.items():
        print(f"    {name:<52} {value}")
    problems = tally.protocol_errors + tally.lost_turns + sum(losses.values())
    print("  RESULT: " + ("nothing lost, no protocol error" if not problems else "PROBLEMS"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="concurrent Retell calls")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pace", type=float, default=1.0, help="mean seconds between turns")
    parser.add_argument("--webhooks-per-sec", type=float, default=15.0)
    parser.add_argument("--events-per-sec", type=float, default=5.0)
    parser.add_argument("--echo-seconds", type=float, default=10.0)
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        database_url, drop = f"sqlite:///{Path(tmp) / 'load.db'}", None
        if args.postgres:
            database_url, drop = fresh_postgres_database()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(port, Path(tmp), **server_env(database_url))
        try:
            wait_healthy(url, server)
            backend = "PostgreSQL" if args.postgres else "SQLite"
            print(f"voice server at {url} ({backend}, rules agent), pace {args.pace} s per turn")
            tally = Tally()
            freeze_client_heap()
            asyncio.run(run_load(url, args, tally))
            losses = count_losses(database_url, tally)
            report(args, tally, losses)
        finally:
            stop(server)
            if drop:
                drop()


def fresh_postgres_database() -> tuple[str, Any]:
    import psycopg

    name = f"dispatch_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", drop


if __name__ == "__main__":
    main()
