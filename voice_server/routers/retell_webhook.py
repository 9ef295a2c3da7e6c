"""`POST /api/v1/retell/webhook`: Retell's signed call events, merged into the call idempotently."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from retell.lib import verify

from agent.vocabulary import EscalationStatus
from db import Store, StoreError, StoreUnavailable
from db.models import Event, Provider
from voice_server.blocking import app_threads, run_blocking
from voice_server.deps import SettingsDep, StoreDep
from voice_server.retell_webhook_merge import MERGED_EVENTS, RetellWebhook, call_update, driver_of

router = APIRouter(tags=["retell"])

# Retell's transfer webhooks -> what the call's escalation status becomes. transfer_started
# says nothing the agent's "transfer requested" does not; transfer_ended alone (never bridged)
# means nobody was reached.
TRANSFER_OUTCOMES = {
    "transfer_bridged": EscalationStatus.TRANSFER_CONNECTED,
    "transfer_cancelled": EscalationStatus.TRANSFER_FAILED,
    "transfer_ended": EscalationStatus.TRANSFER_FAILED,
}
log = logging.getLogger(__name__)


def idempotency_key(event: str, call_id: str, raw_body: bytes) -> str:
    """Same delivery (Retell's retries resend the same body) -> same key."""
    return f"retell:{event}:{call_id}:{hashlib.sha256(raw_body).hexdigest()[:32]}"


def apply_webhook(store: Store, webhook: RetellWebhook, raw_body: bytes) -> bool:
    """Merge the call (if the event carries call data we keep), then keep the event once.

    Merging first means a delivery whose merge failed is retried in full by Retell; merging
    twice is harmless (same values). Returns False for a delivery seen before.
    """
    call_id = webhook.call.call_id
    if (outcome := TRANSFER_OUTCOMES.get(webhook.event)) is not None:
        # Only Retell knows whether a human picked up; the merge rank keeps "connected" even
        # when transfer_ended (the leg hung up) or a retried cancel arrives after it.
        store.set_escalation_status(Provider.RETELL, call_id, outcome)
    if webhook.event in MERGED_EVENTS:
        try:
            existing = store.get_call(call_id, Provider.RETELL)
        except StoreUnavailable:
            # The database is down: merge as if new (the merge keeps what the row has) so the
            # delivery can wait in the outbox instead of being refused.
            existing = None
        update = call_update(webhook, has_transcript=bool(existing and existing.transcript))
        if (driver := driver_of(webhook)) and not (existing and existing.driver_id):
            update = update.model_copy(update={"driver_id": store.ensure_driver(*driver)})
        store.upsert_call(Provider.RETELL, call_id, update)
    return store.record_event(
        Event(
            provider=Provider.RETELL,
            provider_call_id=call_id,
            event_type=webhook.event,
            idempotency_key=idempotency_key(webhook.event, call_id, raw_body),
            payload=webhook.model_dump(mode="json"),
        )
    )


@router.post("/api/v1/retell/webhook")
async def retell_webhook(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    x_retell_signature: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Verify `x-retell-signature` over the raw body, then merge and record the event."""
    if settings.retell_api_key is None:
        raise HTTPException(
            503, "RETELL_API_KEY is not set on the voice server: webhooks cannot be verified."
        )
    raw_body = await request.body()
    try:
        body_text = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        body_text = None
    if not x_retell_signature or body_text is None:
        raise HTTPException(401, "Missing x-retell-signature header (or a body that is not UTF-8).")
    if not verify(body_text, settings.retell_api_key.get_secret_value(), x_retell_signature):
        raise HTTPException(401, "Invalid or expired x-retell-signature.")
    try:
        webhook = RetellWebhook.model_validate(json.loads(body_text))
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"Body is not JSON: {exc.msg}") from None
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]
        ) from None
    try:
        recorded = await run_blocking(app_threads(request), apply_webhook, store, webhook, raw_body)
    except StoreError as exc:
        # Non-2xx on purpose: Retell retries the delivery. The reason stays in our log only.
        log.error("webhook %s for %s not stored: %s", webhook.event, webhook.call.call_id, exc)
        raise HTTPException(503, "The database is unavailable; retry later.") from None
    return {"ok": True, "duplicate": not recorded, "event": webhook.event}
