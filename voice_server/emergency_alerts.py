"""Raising a call's emergency alert: once per call, on the dashboard and (optionally) by webhook.

The dashboard reads open alerts from the Store (`emergency_alerts`); when
DISPATCH_ALERT_WEBHOOK_URL is set, the alert is also queued as a signed JSON delivery in the
durable webhook outbox, so an on-call phone or chat channel hears of it even when no one
watches the dashboard. The Store says whether the alert is new (one per call, across restarts
and replicas); only a new alert is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from agent.vocabulary import CallOutcome
from db import Store, StoreError
from db.models import Provider
from db.webhook_outbox import WebhookOutbox

log = logging.getLogger(__name__)

ALERT_CHANNEL = "emergency_alert"
# The structured result's fields an on-call person needs to act.
ALERT_FIELDS = (
    "emergency_type",
    "safety_status",
    "injury_status",
    "emergency_location",
    "load_secure",
    "escalation_status",
)


def is_emergency(structured: Mapping[str, Any] | None) -> bool:
    return (structured or {}).get("call_outcome") == CallOutcome.EMERGENCY_ESCALATION.value


def delivery_key(provider: Provider, provider_call_id: str) -> str:
    return f"emergency:{provider.value}:{provider_call_id}"


class EmergencyAlerts:
    def __init__(self, store: Store, webhooks: WebhookOutbox | None = None) -> None:
        self.store = store
        self.webhooks = webhooks

    def raise_for(
        self,
        provider: Provider,
        provider_call_id: str,
        structured: Mapping[str, Any] | None,
        *,
        driver_name: str | None = None,
        driver_phone: str | None = None,
        load_number: str | None = None,
    ) -> bool:
        """Raise the alert of an emergency call (no-op for other calls); True when new.

        Blocking (Store and file I/O): call it from a thread. Never raises: a failure is
        logged, and the next write of the call's result tries again.
        """
        if not is_emergency(structured):
            return False
        try:
            if not self.store.raise_emergency_alert(provider, provider_call_id):
                return False
        except StoreError as exc:
            log.error("call %s: emergency alert not raised: %s", provider_call_id, exc)
            return False
        log.warning("EMERGENCY on call %s: alert raised", provider_call_id)
        if self.webhooks is not None:
            payload = {
                "type": "emergency_alert",
                "provider": provider.value,
                "provider_call_id": provider_call_id,
                "raised_at": datetime.now(UTC).isoformat(),
                "driver_name": driver_name,
                "driver_phone": driver_phone,
                "load_number": load_number,
                **{name: (structured or {}).get(name) for name in ALERT_FIELDS},
            }
            try:
                self.webhooks.enqueue(
                    delivery_key(provider, provider_call_id), ALERT_CHANNEL, payload
                )
            except OSError as exc:
                log.error("call %s: alert webhook not queued: %s", provider_call_id, exc)
        return True
