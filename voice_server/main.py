"""The voice server: `create_app()` builds the FastAPI app; `uvicorn voice_server.main:app`.

Settings, the Store and the agent's policy are created in the lifespan, not at import, so a
configuration problem surfaces as one `ConfigError` naming the variable when the server starts.
Tests pass their own settings (and, where they need one, a policy double) to `create_app`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from db import Store, StoreError, open_store
from db.outbox import FIRST_ATTEMPT_SECS, OutboxStore
from db.webhook_outbox import WebhookOutbox, WebhookTarget
from settings import Settings, load_settings
from voice_server.blocking import database_threads
from voice_server.body_limit import DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from voice_server.deps import reject_unknown_query_parameters
from voice_server.emergency_alerts import ALERT_CHANNEL, EmergencyAlerts
from voice_server.json_body import StrictJSONBody, validation_error
from voice_server.retell_call_check import RetellCallDirectory
from voice_server.retell_frames import shutdown_frame_parser
from voice_server.retell_socket import GreetedCalls
from voice_server.routers import (
    calls,
    conversations,
    health,
    loads,
    metrics,
    pipecat,
    retell_webhook,
    retell_ws,
    twilio_dial,
)
from voice_server.routers.health import DatabaseProbe

if TYPE_CHECKING:
    from agent import Policy

log = logging.getLogger(__name__)

GIL_SWITCH_INTERVAL_SECS = 0.0005
OUTBOX_DRAIN_INTERVAL_SECS = 0.5
MISSING_TRANSFER_LINE = (
    "DISPATCH_TRANSFER_NUMBER is not set: emergencies cannot be transferred to a human. The "
    "agent tells drivers the dispatch office will call them back and the dashboard raises an "
    "alert; set DISPATCH_TRANSFER_NUMBER (E.164) to transfer Retell phone calls and Twilio calls."
)


def create_app(
    settings: Settings | None = None,
    *,
    policy: Policy | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    transcript_flush_secs: float = 0.25,
    store: Store | None = None,
    first_write_attempt_secs: float = FIRST_ATTEMPT_SECS,
) -> FastAPI:
    """The voice server. `policy` replaces the one the settings select (tests use doubles);
    `transcript_flush_secs` is how long after a change a live call's row is written; `store`
    replaces the one the settings open (tests tune a backend's timeouts);
    `first_write_attempt_secs` is how long a write waits for the database before it is queued
    in the outbox (a webhook must be answered before Retell's 10 s timeout)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Store calls run in threads; under CPython's default 5 ms GIL switch interval a burst
        # of them starves the event loop (ws_bench: p99 turn latency 118 ms -> 9 ms at N = 50).
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_SECS))
        app.state.settings = settings or load_settings()
        app.state.transcript_flush_secs = transcript_flush_secs
        app.state.policy = policy or app.state.settings.agent_policy()
        if not app.state.settings.dispatch_transfer_number:
            log.warning(MISSING_TRANSFER_LINE)
        # Writes the database cannot take right now wait in a durable local outbox.
        outbox = OutboxStore(
            store or open_store(app.state.settings),
            app.state.settings.outbox_path,
            first_attempt_secs=first_write_attempt_secs,
        )
        app.state.store = outbox
        webhooks = alert_webhooks(app.state.settings, outbox.path)
        app.state.alerts = EmergencyAlerts(outbox, webhooks)
        active_settings = app.state.settings
        # Blocking database work runs on a pool of its own, sized for it.
        app.state.db_threads = threads = database_threads(active_settings.voice_server_db_threads)
        app.state.database_probe = DatabaseProbe(outbox)
        app.state.unsaved_calls = set()  # recorders holding an ended call only in memory
        app.state.greeted_calls = GreetedCalls()
        app.state.retell_calls = None
        if active_settings.retell_api_key and active_settings.retell_verify_call_ids:
            app.state.retell_calls = RetellCallDirectory(
                active_settings.retell_api_key.get_secret_value(), active_settings.retell_base_url
            )
        loop = asyncio.get_running_loop()
        try:
            applied = await loop.run_in_executor(threads, outbox.migrate)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
        except StoreError as exc:
            # Stay up: /healthz reports the database, and writes retry when it is back.
            log.error("database not ready at start: %s", exc)
        freeze_startup_heap(app.state.settings.keywords)
        drainer = asyncio.create_task(drain_outbox(outbox, threads))
        sender = asyncio.create_task(deliver_webhooks(webhooks)) if webhooks else None
        try:
            yield
        finally:
            for task in (drainer, sender):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if app.state.unsaved_calls:
                log.error(
                    "stopping with %d ended calls neither the database nor the outbox took",
                    len(app.state.unsaved_calls),
                )
            await loop.run_in_executor(threads, outbox.drain)
            await loop.run_in_executor(threads, outbox.close)
            app.state.database_probe.close()
            if app.state.retell_calls is not None:
                await app.state.retell_calls.close()
            shutdown_frame_parser()
            threads.shutdown(wait=False, cancel_futures=True)

    # FastAPIOffline serves /docs and /redoc with Swagger UI's and ReDoc's assets from the
    # installed package: FastAPI's default pages load them from a CDN and are blank offline.
    app = FastAPIOffline(
        title="Dispatch voice server",
        summary="Retell custom-LLM WebSocket and webhooks, Pipecat events, call control, reads.",
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query_parameters)],
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from swagger.io
    )
    # The last added runs first: sizes are checked before a body is read and parsed.
    app.add_middleware(StrictJSONBody)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(StoreError, database_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    for module in (
        retell_ws,
        retell_webhook,
        calls,
        conversations,
        metrics,
        health,
        pipecat,
        loads,
        twilio_dial,
    ):
        app.include_router(module.router)
    return app


def alert_webhooks(settings: Settings, outbox_path: Path) -> WebhookOutbox | None:
    """The durable outbox of alert webhooks, beside this process's own Store outbox file."""
    if not settings.dispatch_alert_webhook_url or not settings.dispatch_alert_webhook_secret:
        return None
    target = WebhookTarget(
        settings.dispatch_alert_webhook_url,
        settings.dispatch_alert_webhook_secret.get_secret_value(),
    )
    return WebhookOutbox(Path(f"{outbox_path}.webhooks"), {ALERT_CHANNEL: target})


async def deliver_webhooks(webhooks: WebhookOutbox) -> None:
    """Send queued webhooks when due (retries back off inside the outbox)."""
    while True:
        if webhooks.depth:
            try:
                await asyncio.to_thread(webhooks.deliver_due)
            except Exception:  # the sender must outlive any surprise; deliveries stay queued
                log.exception("webhook delivery failed")
        await asyncio.sleep(OUTBOX_DRAIN_INTERVAL_SECS)


def freeze_startup_heap(keywords: tuple[str, ...]) -> None:
    """Load the agent's lazy tables, then move everything alive now out of the collector's reach.

    The agent's gazetteer and lexicons, pydantic's schemas and the framework are ~260k
    long-lived objects; one full collection of them took 110 ms on the loop, and under load one
    ran every few seconds: every frame of every call waited (load_bench p99 78-150 ms). Frozen,
    a full collection only walks what calls allocate.
    """
    from agent import CallContext, analyze, extract_result, next_reply, transcript_from

    context = CallContext(driver_name="Warm Up", load_number="LD-0")
    turns = transcript_from(
        [
            {"role": "agent", "content": "Hi, this is dispatch. What's your status?"},
            {"role": "user", "content": "Driving on I-10 near Tucson, there by 3 PM, no delays."},
        ]
    )
    next_reply(context, turns)
    extract_result(context, turns)
    analyze(turns, keywords=keywords)
    gc.collect()
    gc.freeze()


async def database_error(request: Request, exc: StoreError) -> JSONResponse:
    """A read the database could not answer (writes wait in the outbox): 503, retry later.

    The reason stays in our log; the answer names no host, path or credential."""
    log.warning("%s %s: database error: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "The database is unavailable; retry later (see /healthz)."},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def drain_outbox(outbox: OutboxStore, threads: Executor | None = None) -> None:
    """Replay the outbox whenever something waits in it (the database may be back)."""
    loop = asyncio.get_running_loop()
    while True:
        if outbox.depth:
            try:
                applied = await loop.run_in_executor(threads, outbox.drain)
                if applied:
                    log.info("outbox: %d queued writes landed, %d wait", applied, outbox.depth)
            except Exception:  # the drainer must outlive any surprise; the entries stay queued
                log.exception("outbox drain failed")
        await asyncio.sleep(OUTBOX_DRAIN_INTERVAL_SECS)


# Safe at import: settings are read when the server starts, not here.
app = create_app()
