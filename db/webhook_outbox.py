"""Outbound webhooks that survive restarts: signed JSON, retried until delivered, once per key.

`WebhookOutbox` is a small durable queue in a JSONL file next to the Store's outbox. `enqueue`
appends the delivery (fsync'd) before it returns; `deliver_due` POSTs what is due and records
each success, so a delivery queued before a crash or restart goes out after it, and a key that
was queued (or delivered) before is never queued again, also across restarts. Failures are
retried with exponential backoff; a 4xx other than 408/429 means the receiver will never take
it, so it is set aside in `<path>.rejected` instead.

Deliveries name a channel (e.g. "emergency_alert"); the channel's URL and secret are looked up
when sending, so a rotated secret signs what still waits. Each POST carries
`X-Dispatch-Delivery: <key>` (receivers drop a repeat) and
`X-Dispatch-Signature` as `protocols.webhook_signature` makes it (Retell's scheme).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from protocols.webhook_signature import DELIVERY_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

FIRST_RETRY_SECS = 1.0
MAX_RETRY_SECS = 300.0
REMEMBERED_KEYS = 10_000  # delivered keys kept for deduplication (oldest forgotten first)


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str
    timeout_secs: float = 10.0


@dataclass
class _Delivery:
    key: str
    channel: str
    body: str  # the exact bytes signed and sent (JSON text)
    attempts: int = 0
    due_at: float = 0.0  # time.monotonic(); 0 means at once


@dataclass
class WebhookOutbox:
    path: Path
    targets: Mapping[str, WebhookTarget]
    transport: httpx.BaseTransport | None = None  # tests point deliveries at local doubles
    clock: Callable[[], float] = time.monotonic
    _pending: dict[str, _Delivery] = field(default_factory=dict, init=False)
    _delivered: dict[str, None] = field(default_factory=dict, init=False)  # ordered set
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _sending: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._load()

    # -- state ---------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Deliveries still waiting for their receiver."""
        return len(self._pending)

    def _load(self) -> None:
        if not self.path.exists():
            return
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                record = json.loads(line)
                if record["op"] == "enqueue":
                    if record["key"] not in self._delivered:
                        self._pending[record["key"]] = _Delivery(
                            record["key"], record["channel"], record["body"]
                        )
                elif record["op"] == "done":
                    self._pending.pop(record["key"], None)
                    self._delivered[record["key"]] = None
            except (json.JSONDecodeError, KeyError, TypeError):
                log.warning("webhook outbox %s: skipping unreadable line %d", self.path, number)
        if self._pending:
            log.warning("webhook outbox %s: %d deliveries wait", self.path, len(self._pending))

    def _append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record, separators=(",", ":")) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def _compact(self) -> None:
        """Rewrite the file as what waits plus the keys still remembered (atomic rename)."""
        while len(self._delivered) > REMEMBERED_KEYS:
            del self._delivered[next(iter(self._delivered))]
        records = [{"op": "done", "key": key} for key in self._delivered] + [
            {"op": "enqueue", "key": d.key, "channel": d.channel, "body": d.body}
            for d in self._pending.values()
        ]
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as file:
            file.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)

    # -- queueing and delivering -----------------------------------------------------------------

    def enqueue(self, key: str, channel: str, payload: Mapping[str, Any]) -> bool:
        """Queue one delivery durably; False when this key was queued or delivered before."""
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)
        with self._lock:
            if key in self._pending or key in self._delivered:
                return False
            self._append({"op": "enqueue", "key": key, "channel": channel, "body": body})
            self._pending[key] = _Delivery(key, channel, body)
            return True

    def deliver_due(self) -> int:
        """POST every delivery that is due (one thread at a time); returns how many landed."""
        delivered = 0
        with self._sending:
            with self._lock:
                due = [d for d in self._pending.values() if d.due_at <= self.clock()]
            for delivery in due:
                if self._send(delivery):
                    delivered += 1
            if delivered and len(self._delivered) > 2 * REMEMBERED_KEYS:
                with self._lock:
                    self._compact()
        return delivered

    def _send(self, delivery: _Delivery) -> bool:
        target = self.targets.get(delivery.channel)
        if target is None:
            log.error("webhook %s: no target configured for %r", delivery.key, delivery.channel)
            self._retry_later(delivery)
            return False
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery.key,
            SIGNATURE_HEADER: sign(delivery.body, target.secret),
        }
        try:
            with httpx.Client(timeout=target.timeout_secs, transport=self.transport) as client:
                response = client.post(target.url, content=delivery.body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("webhook %s to %s failed: %r", delivery.key, target.url, exc)
            self._retry_later(delivery)
            return False
        if response.is_success:
            self._finish(delivery, "done")
            return True
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            log.error(
                "webhook %s refused by %s with %d: set aside in %s.rejected",
                delivery.key,
                target.url,
                response.status_code,
                self.path.name,
            )
            with self.path.with_name(self.path.name + ".rejected").open("a") as file:
                file.write(json.dumps({"key": delivery.key, "body": delivery.body}) + "\n")
            self._finish(delivery, "done")
            return False
        log.warning("webhook %s: %s answered %d", delivery.key, target.url, response.status_code)
        self._retry_later(delivery)
        return False

    def _finish(self, delivery: _Delivery, op: str) -> None:
        with self._lock:
            self._append({"op": op, "key": delivery.key})
            self._pending.pop(delivery.key, None)
            self._delivered[delivery.key] = None

    def _retry_later(self, delivery: _Delivery) -> None:
        delivery.attempts += 1
        wait = min(MAX_RETRY_SECS, FIRST_RETRY_SECS * 2 ** (delivery.attempts - 1))
        delivery.due_at = self.clock() + wait
