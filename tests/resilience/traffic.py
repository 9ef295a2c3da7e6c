"""What reaches a voice server on a working day: Retell calls, webhooks, Pipecat events."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx
import psycopg

from protocols.retell.caller import RetellCaller, llm_socket_url, simulated_call_details
from tests.resilience.conftest import PIPECAT_KEY
from tests.voice_server.conftest import retell_call_object, signed

DRIVER_TURNS = (
    "Hi, yes, this is Maria.",
    "I'm on I-10 near Tucson, about two hours out.",
    "No issues, should make the appointment.",
)


def call_details(call_id: str) -> dict[str, Any]:
    return simulated_call_details(
        call_id, driver_name="Maria Lopez", load_number="LD-4242", origin="Phoenix, AZ",
        destination="El Paso, TX", driver_phone="+14155550123",
    )  # fmt: skip


async def retell_call(server_url: str, call_id: str, turns: tuple[str, ...] = DRIVER_TURNS) -> Any:
    """A whole Retell call on one socket; returns the caller (its transcript, its errors)."""
    caller = RetellCaller(
        llm_socket_url(server_url, call_id),
        call_details=call_details(call_id),
        ping_interval=None,
        reply_timeout=15,
    )
    async with caller:
        for text in turns:
            await caller.say(text)
    return caller


def webhook_body(call_id: str, event: str = "call_ended") -> str:
    call = retell_call_object(call_id, to_number="+14155550188")
    return json.dumps({"event": event, "call": call})


def post_webhook(
    server_url: str, body: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST a Retell webhook, signed with the server's Retell key unless `headers` are given."""
    headers = signed(body) if headers is None else headers
    return httpx.post(f"{server_url}/api/v1/retell/webhook", content=body.encode(), headers=headers)


def pipecat_summary(call_id: str) -> dict[str, Any]:
    return {
        "provider_call_id": call_id,
        "event_type": "session_summary",
        "event_id": f"{call_id}-summary",
        "data": {
            "duration_secs": 61.25,
            "keyword_hits": {"traffic": 2},
            "interruptions": 1,
            "sentiment": 0.4,
            "tokens": 812,
            "transcript": [
                {"role": "agent", "content": "Hi Bo, this is dispatch. How is load 7731 going?"},
                {"role": "user", "content": "Stuck in traffic near Dallas, about an hour late."},
            ],
            "structured": {"call_outcome": "In-Transit Update", "driver_status": "Delayed"},
            "context": {"driver_name": "Bo Chen", "load_number": "7731", "transport": "webrtc"},
        },
    }


def post_pipecat(server_url: str, body: Any, key: str | None = PIPECAT_KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server_url}/api/v1/pipecat/event", json=body, headers=headers)


def count_rows(database_url: str, table: str, provider_call_id: str) -> int:
    """Rows of `calllog` or `call_events` for one provider call id, read straight from the DB."""
    assert table in {"calllog", "call_events"}
    sql = f"SELECT count(*) FROM {table} WHERE provider_call_id = "
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql + "?", (provider_call_id,)).fetchone()[0]
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql + "%s", (provider_call_id,)).fetchone()[0]  # type: ignore[index]
