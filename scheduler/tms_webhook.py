"""Every finished call about a load, pushed to the TMS (TMS_WEBHOOK_URL), signed and durable.

Deliveries are rows of `webhook_outbox` (one per call: its delivery id), claimed like slots, so
they survive restarts and several schedulers never send one twice at once. The body is
`CallFinished`; the `X-Dispatch-Signature` header is Retell's own scheme (`v=<ms>,d=<hex
HMAC-SHA256 of body + ms>`, keyed by TMS_WEBHOOK_SECRET), so a receiver verifies it with
`protocols.webhook_signature.verify` or retell-sdk's `Retell.verify`. A 2xx answer delivers;
5xx, 408, 429 and network errors are retried with doubling backoff; any other 4xx means the
receiver refuses the body, so it is tried only a few times and then shown as failed on the
dispatch board.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel

from db.load_models import WebhookDelivery
from db.models import Provider
from db.store import Store
from protocols.webhook_signature import DELIVERY_HEADER, SIGNATURE_HEADER, sign

TARGET = "tms"
MAX_ATTEMPTS = 12  # transient failures: ~10 s doubling to an hour, about a day in all
MAX_REFUSED_ATTEMPTS = 3  # a receiver answering 4xx
FIRST_RETRY_SECS = 10.0
MAX_RETRY_SECS = 3600.0
TRANSIENT_STATUSES = frozenset({408, 425, 429})
LOOKBACK = timedelta(days=2)  # finished calls this recent are queued when none was
DELIVERY_NAMESPACE = uuid.UUID("5b0f2d8e-3c1a-4b0e-9f55-7d7c1f1c2a16")


class CallFinished(BaseModel):
    """The webhook body (shared by the sender and receivers' tests)."""

    event: str = "call.finished"
    delivery_id: str
    load_number: str | None
    provider: str
    call_id: str
    status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    disconnection_reason: str | None = None
    structured: dict[str, Any] | None = None


def delivery_id(target: str, provider: str, provider_call_id: str) -> str:
    """The same id for every retry of one call's delivery, so the receiver can deduplicate."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{target}:{provider}:{provider_call_id}"))


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_RETRY_SECS, FIRST_RETRY_SECS * 2 ** (attempts - 1)))


class TmsWebhookSender:
    def __init__(
        self,
        store: Store,
        url: str,
        secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        batch: int = 50,
    ) -> None:
        self.store = store
        self.url = url
        self.secret = secret
        self.batch = batch
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, connect=3.0), transport=transport
        )

    async def run_once(self, now: datetime) -> int:
        """Queue newly finished calls, then try every due delivery; returns how many landed."""
        await asyncio.to_thread(self.store.enqueue_finished_calls, TARGET, now - LOOKBACK, now)
        due = await asyncio.to_thread(
            self.store.claim_webhooks, TARGET, now, limit=self.batch, lease_secs=60.0
        )
        results = await asyncio.gather(*(self._deliver(delivery, now) for delivery in due))
        return sum(results)

    async def _deliver(self, delivery: WebhookDelivery, now: datetime) -> bool:
        call = await asyncio.to_thread(
            self.store.get_call, delivery.provider_call_id, Provider(delivery.provider)
        )
        if call is None:
            await self._settle(delivery, now, status=None, error="the call is gone", final=True)
            return False
        body = CallFinished(
            delivery_id=delivery_id(delivery.target, delivery.provider, delivery.provider_call_id),
            load_number=call.load_number,
            provider=call.provider.value,
            call_id=call.provider_call_id,
            status=call.status.value,
            started_at=call.started_at,
            ended_at=call.ended_at,
            disconnection_reason=call.disconnection_reason,
            structured=call.structured,
        ).model_dump_json()
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(body, self.secret, int(now.timestamp() * 1000)),
            DELIVERY_HEADER: delivery_id(
                delivery.target, delivery.provider, delivery.provider_call_id
            ),
        }
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            await self._settle(delivery, now, status=None, error=f"{type(exc).__name__}: {exc}")
            return False
        if response.is_success:
            await asyncio.to_thread(
                self.store.settle_webhook,
                delivery.id,
                "delivered",
                now,
                retry_at=None,
                status=response.status_code,
                error=None,
            )
            return True
        refused = response.is_client_error and response.status_code not in TRANSIENT_STATUSES
        error = f"TMS answered {response.status_code}: {response.text[:200]}"
        final = refused and delivery.attempts >= MAX_REFUSED_ATTEMPTS
        await self._settle(delivery, now, status=response.status_code, error=error, final=final)
        return False

    async def _settle(
        self,
        delivery: WebhookDelivery,
        now: datetime,
        *,
        status: int | None,
        error: str,
        final: bool = False,
    ) -> None:
        final = final or delivery.attempts >= MAX_ATTEMPTS
        await asyncio.to_thread(
            self.store.settle_webhook,
            delivery.id,
            "failed" if final else "pending",
            now,
            retry_at=None if final else now + retry_delay(delivery.attempts),
            status=status,
            error=error,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
