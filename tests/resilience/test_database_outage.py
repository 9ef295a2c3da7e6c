"""The database goes away while calls, webhooks and Pipecat events arrive: nothing is lost.

Writes wait in the durable outbox, every delivery is acknowledged, /healthz says `degraded`
with the outbox depth, and everything lands once the database is back. Each webhook and event
is delivered three times (as Retell and the bot retry): one call row, one event row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from db.models import CallStatus, Provider
from db.postgres_store import PostgresStore
from db.sqlite_store import SqliteStore
from tests.resilience import traffic
from tests.resilience.conftest import (
    PIPECAT_KEY,
    PrivatePostgres,
    auth,
    eventually,
    read_call,
    sqlite_write_locked,
)

DELIVERIES = 3
RETELL_WEBHOOK_TIMEOUT_SECS = 10
READ_PATHS = (
    "/api/v1/calls/call_out_pg",
    "/api/v1/conversations?query=tucson",
    "/api/v1/conversations/export.csv",
    "/api/v1/metrics",
    "/api/v1/pipecat/metrics",
)


def health(server_url: str) -> dict[str, Any]:
    response = httpx.get(server_url + "/healthz", timeout=10)
    assert response.status_code == 200
    return response.json()


async def traffic_during_outage(server_url: str, tag: str) -> dict[str, Any]:
    """One Retell call, one webhook and one Pipecat summary (each delivered three times)."""
    ids = {"call": f"call_out_{tag}", "webhook": f"call_hook_{tag}", "pipecat": f"pc_out_{tag}"}
    caller = await traffic.retell_call(server_url, ids["call"])
    assert caller.protocol_errors == []
    body = traffic.webhook_body(ids["webhook"])
    hooks = [await asyncio.to_thread(traffic.post_webhook, server_url, body)]
    hooks += [await asyncio.to_thread(traffic.post_webhook, server_url, body)]
    hooks += [await asyncio.to_thread(traffic.post_webhook, server_url, body)]
    summary = traffic.pipecat_summary(ids["pipecat"])
    events = [
        await asyncio.to_thread(traffic.post_pipecat, server_url, summary)
        for _ in range(DELIVERIES)
    ]
    assert [r.status_code for r in hooks + events] == [200] * (2 * DELIVERIES), [
        r.text for r in hooks + events
    ]
    assert [r.json()["duplicate"] for r in hooks] == [False, True, True]
    assert [r.json()["duplicate"] for r in events] == [False, True, True]
    return {**ids, "transcript": caller.transcript}


def assert_everything_landed(database_url: str, sent: dict[str, Any]) -> None:
    call = read_call(database_url, sent["call"])
    assert call is not None and call.status == CallStatus.ENDED
    assert call.transcript == sent["transcript"]
    assert len(call.transcript) == 1 + 2 * len(traffic.DRIVER_TURNS)
    assert call.structured and call.driver_name == "Maria Lopez"
    hooked = read_call(database_url, sent["webhook"])
    assert hooked.status == CallStatus.ENDED and hooked.duration_secs == 95.5
    assert hooked.driver_name == "Ana Ruiz"
    pipecat = read_call(database_url, sent["pipecat"], Provider.PIPECAT)
    assert pipecat.status == CallStatus.ENDED and pipecat.tokens_estimated == 812
    assert pipecat.driver_name == "Bo Chen"
    for key in ("call", "webhook", "pipecat"):
        assert traffic.count_rows(database_url, "calllog", sent[key]) == 1
    assert traffic.count_rows(database_url, "call_events", sent["webhook"]) == 1
    assert traffic.count_rows(database_url, "call_events", sent["pipecat"]) == 1


async def test_sqlite_locked_by_another_writer_loses_nothing(
    serve: Callable[..., Any], make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    settings = make_settings(pipecat_api_key=PIPECAT_KEY, outbox_path=str(tmp_path / "ob.jsonl"))
    store = SqliteStore(settings.sqlite_path, busy_timeout_secs=0.3)
    server = serve(settings, store=store)
    with sqlite_write_locked(settings.sqlite_path):
        sent = await traffic_during_outage(server.url, "sqlite")
        # The ended call's final write waits too; the drainer cannot get through the lock.
        status = await eventually(lambda: (h := health(server.url))["outbox_depth"] and h)
        assert status["status"] == "degraded"
        assert (tmp_path / "ob.jsonl").exists()
        assert traffic.count_rows(settings.database_url, "call_events", sent["webhook"]) == 0
    await eventually(lambda: health(server.url)["status"] == "ok")
    assert health(server.url)["outbox_depth"] == 0
    assert_everything_landed(settings.database_url, sent)


async def test_postgres_stopped_and_started_loses_nothing(
    serve: Callable[..., Any],
    make_settings: Callable[..., Any],
    private_postgres: PrivatePostgres,
    tmp_path: Path,
) -> None:
    database_url = private_postgres.create_database()
    settings = make_settings(
        database_url=database_url,
        pipecat_api_key=PIPECAT_KEY,
        outbox_path=str(tmp_path / "ob.jsonl"),
    )
    server = serve(settings, store=PostgresStore(database_url, connect_timeout=2))
    private_postgres.stop()
    try:
        down = health(server.url)
        assert down["status"] == "degraded" and down["database"] == "unavailable"
        sent = await traffic_during_outage(server.url, "pg")
        for path in READ_PATHS:  # reads cannot be queued: a clear, retryable 503
            answer = await asyncio.to_thread(httpx.get, server.url + path, headers=auth())
            assert answer.status_code == 503, (path, answer.status_code, answer.text)
            assert "database" in answer.text.lower()
            assert private_postgres.password not in answer.text
        status = await eventually(lambda: (h := health(server.url))["outbox_depth"] and h)
        assert status["status"] == "degraded"
    finally:
        private_postgres.start()
    await eventually(lambda: health(server.url)["status"] == "ok", timeout=30)
    assert_everything_landed(database_url, sent)


async def test_a_write_nobody_can_take_is_refused_so_retell_retries(
    serve_unwritable: Callable[..., Any],
) -> None:
    server, settings, _ = serve_unwritable(pipecat_api_key=PIPECAT_KEY)
    body = traffic.webhook_body("call_refused")
    with sqlite_write_locked(settings.sqlite_path):
        hook = await asyncio.to_thread(traffic.post_webhook, server.url, body)
        event = await asyncio.to_thread(
            traffic.post_pipecat, server.url, traffic.pipecat_summary("pc_refused")
        )
    assert hook.status_code == 503 and event.status_code == 503
    assert "retry" in hook.json()["detail"]
    # Nothing half-written: the refused deliveries left no rows behind.
    assert traffic.count_rows(settings.database_url, "calllog", "call_refused") == 0
    assert traffic.count_rows(settings.database_url, "call_events", "pc_refused") == 0
    # Retell's retry after the outage is taken in full.
    retry = await asyncio.to_thread(traffic.post_webhook, server.url, body)
    assert retry.status_code == 200 and retry.json()["duplicate"] is False
    assert traffic.count_rows(settings.database_url, "call_events", "call_refused") == 1


async def test_a_webhook_is_answered_before_retells_timeout_while_sqlite_stays_locked(
    serve: Callable[..., Any], make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    # The store as configured (SQLite retries a busy lock for 30 s) and the default deadline.
    settings = make_settings(outbox_path=str(tmp_path / "ob.jsonl"))
    server = serve(settings)
    body = traffic.webhook_body("call_slow_db")
    with sqlite_write_locked(settings.sqlite_path):
        hook = await asyncio.to_thread(
            httpx.post,
            f"{server.url}/api/v1/retell/webhook",
            content=body.encode(),
            headers=traffic.signed(body),
            timeout=RETELL_WEBHOOK_TIMEOUT_SECS,  # Retell gives up, and retries, after this
        )
        assert hook.status_code == 200 and hook.json()["duplicate"] is False
        assert health(server.url)["outbox_depth"] > 0
    await eventually(lambda: health(server.url)["outbox_depth"] == 0)
    assert traffic.count_rows(settings.database_url, "calllog", "call_slow_db") == 1
    assert traffic.count_rows(settings.database_url, "call_events", "call_slow_db") == 1
    assert read_call(settings.database_url, "call_slow_db").driver_name == "Ana Ruiz"
