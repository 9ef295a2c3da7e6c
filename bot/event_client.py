"""Delivery of the bot's telemetry events to the voice server, with a durable local spool.

Every event is first appended to a JSONL spool file (fsync'd), then the spool is flushed to
`POST {VOICE_SERVER_URL}/api/v1/pipecat/event` in order, with retries and backoff. What could not
be delivered stays in the spool and goes out on the next send or when a session starts, so a
summary survives the voice server being down and the bot restarting. The server dedupes on
(provider_call_id, event_id), so sending an event twice is harmless.

A session in progress keeps a checkpoint of its summary (`<spool>.live/<call>.json`, replaced
as the transcript grows, removed once the real summary is spooled). A process that dies
mid-call leaves it behind; the process that next holds the spool file turns it into a summary
event and delivers it (bot/spool.py), so the call is not lost with its bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
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
        self._closed: set[str] = set()  # calls whose summary is spooled: no more checkpoints

    @property
    def rejected_path(self) -> Path:
        """Events the server refused as invalid (422): kept for a human, never resent."""
        return self.spool_path.with_name(self.spool_path.name + ".rejected")

    async def send(self, event: dict[str, Any]) -> DeliveryReport:
        """Spool the event durably, then deliver everything spooled (oldest first)."""
        async with self._lock:
            await asyncio.to_thread(self._append, [event])
            return await self._flush_locked()

    @property
    def live_dir(self) -> Path:
        """Checkpoints of the summaries of sessions in progress (one file per call)."""
        return self.spool_path.with_name(self.spool_path.name + ".live")

    def _checkpoint_path(self, provider_call_id: str) -> Path:
        return self.live_dir / (hashlib.sha256(provider_call_id.encode()).hexdigest() + ".json")

    async def checkpoint(self, event: dict[str, Any]) -> None:
        """Keep the summary of a session in progress, delivered only if its process dies."""
        call = str(event["provider_call_id"])
        async with self._lock:
            if call not in self._closed:
                await asyncio.to_thread(self._write_checkpoint, call, event)

    async def close_checkpoint(self, provider_call_id: str) -> None:
        """The session's real summary is spooled: its checkpoint goes."""
        async with self._lock:
            self._closed.add(provider_call_id)
            await asyncio.to_thread(self._checkpoint_path(provider_call_id).unlink, missing_ok=True)

    def recover_checkpoints(self) -> int:
        """Spool the checkpoints left by a process that died mid-call; how many there were.
        Only for the process that holds this spool file, before its sessions start."""
        if not self.live_dir.is_dir():
            return 0
        files = sorted(self.live_dir.glob("*.json"))
        events = []
        for file in files:
            try:
                events.append(json.loads(file.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                logger.warning(f"Skipping an unreadable session checkpoint {file}")
        if events:
            self._append(events)  # durable here first, then gone there
        for file in files:
            file.unlink(missing_ok=True)
        return len(events)

    def adopt(self, orphan: EventClient) -> int:
        """Take over another spool file's events and checkpoints (its process is gone and its
        lock is held by the caller); how many events came over."""
        orphan.recover_checkpoints()
        events = orphan._read()
        if events:
            self._append(events)
        orphan.spool_path.unlink(missing_ok=True)
        # Absent, or a checkpoint written meanwhile: it stays for the next adopter.
        with contextlib.suppress(OSError):
            orphan.live_dir.rmdir()
        return len(events)

    def _write_checkpoint(self, provider_call_id: str, event: dict[str, Any]) -> None:
        self.live_dir.mkdir(parents=True, exist_ok=True)
        target = self._checkpoint_path(provider_call_id)
        tmp = target.with_name(target.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as file:
            file.write(json.dumps(event, separators=(",", ":")))
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)

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
