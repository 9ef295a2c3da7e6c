"""Delivery of the bot's telemetry events to the voice server, with a durable local spool.

Every event is first appended to a JSONL spool file (fsync'd), then the spool is flushed to
`POST {VOICE_SERVER_URL}/api/v1/pipecat/event` in order, with retries and backoff. What could not
be delivered stays in the spool and goes out on the next send or when a session starts, so a
summary survives the voice server being down and the bot restarting. The server dedupes on
(provider_call_id, event_id), so sending an event twice is harmless.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from loguru import logger

EVENT_PATH = "/api/v1/pipecat/event"
# Worth retrying later: the server is down, overloaded, or not configured yet.
RETRYABLE_STATUSES = {401, 403, 404, 408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    delivered: int
    pending: int
    rejected: int


class EventClient:
    """Sends events at least once; never raises on network or server errors."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        spool_path: str | Path,
        *,
        attempts: int = 4,
        backoff_secs: float = 0.25,
        timeout_secs: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + EVENT_PATH
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self.spool_path = Path(spool_path)
        self._attempts = max(1, attempts)
        self._backoff_secs = backoff_secs
        self._timeout_secs = timeout_secs
        self._transport = transport
        self._lock = asyncio.Lock()

    @property
    def rejected_path(self) -> Path:
        """Events the server refused as invalid (422): kept for a human, never resent."""
        return self.spool_path.with_name(self.spool_path.name + ".rejected")

    async def send(self, event: dict[str, Any]) -> DeliveryReport:
        """Spool the event durably, then deliver everything spooled (oldest first)."""
        async with self._lock:
            await asyncio.to_thread(self._append, [event])
            return await self._flush_locked()

    async def post_once(self, event: dict[str, Any]) -> bool:
        """One attempt, not spooled: for events only worth something now (live updates)."""
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout_secs, transport=self._transport
            ) as client:
                response = await client.post(self._url, json=event, headers=self._headers)
        except httpx.HTTPError as exc:
            logger.debug(f"Live Pipecat event not delivered ({exc!r})")
            return False
        return response.status_code < 300

    async def flush(self) -> DeliveryReport:
        """Deliver what earlier sends left in the spool."""
        async with self._lock:
            return await self._flush_locked()

    def pending(self) -> list[dict[str, Any]]:
        return self._read()

    async def _flush_locked(self) -> DeliveryReport:
        events = await asyncio.to_thread(self._read)
        if not events:
            return DeliveryReport(0, 0, 0)
        delivered = rejected = 0
        remaining = list(events)
        async with httpx.AsyncClient(
            timeout=self._timeout_secs, transport=self._transport
        ) as client:
            while remaining:
                outcome = await self._deliver(client, remaining[0])
                if outcome == "retry_later":
                    break
                if outcome == "rejected":
                    rejected += 1
                    await asyncio.to_thread(self._append_rejected, remaining[0])
                else:
                    delivered += 1
                remaining.pop(0)
        if delivered or rejected:
            await asyncio.to_thread(self._rewrite, remaining)
        if remaining:
            logger.warning(
                f"{len(remaining)} Pipecat event(s) wait in {self.spool_path} until "
                f"the voice server at {self._url} is reachable"
            )
        return DeliveryReport(delivered, len(remaining), rejected)

    async def _deliver(self, client: httpx.AsyncClient, event: dict[str, Any]) -> str:
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._backoff_secs * 2 ** (attempt - 1))
            try:
                response = await client.post(self._url, json=event, headers=self._headers)
            except httpx.HTTPError as exc:
                logger.debug(f"Pipecat event delivery failed ({exc!r}); attempt {attempt + 1}")
                continue
            if response.status_code < 300:
                return "delivered"
            if response.status_code not in RETRYABLE_STATUSES:
                logger.error(
                    f"Voice server rejected Pipecat event {event.get('event_type')} "
                    f"({response.status_code}): {response.text[:500]}"
                )
                return "rejected"
            logger.debug(f"Voice server answered {response.status_code}; will retry")
        return "retry_later"

    def _read(self) -> list[dict[str, Any]]:
        if not self.spool_path.exists():
            return []
        events = []
        for line in self.spool_path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                # A torn last line from a crash mid-append: the rest of the spool is still good.
                logger.warning(f"Skipping an unreadable line in {self.spool_path}")
        return events

    def _append(self, events: list[dict[str, Any]]) -> None:
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spool_path.open("a", encoding="utf-8") as spool:
            for event in events:
                spool.write(json.dumps(event, separators=(",", ":")) + "\n")
            spool.flush()
            os.fsync(spool.fileno())

    def _append_rejected(self, event: dict[str, Any]) -> None:
        with self.rejected_path.open("a", encoding="utf-8") as rejected:
            rejected.write(json.dumps(event, separators=(",", ":")) + "\n")

    def _rewrite(self, events: list[dict[str, Any]]) -> None:
        """Replace the spool atomically: a crash leaves either the old or the new file."""
        tmp = self.spool_path.with_name(self.spool_path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as spool:
            for event in events:
                spool.write(json.dumps(event, separators=(",", ":")) + "\n")
            spool.flush()
            os.fsync(spool.fileno())
        os.replace(tmp, self.spool_path)
