"""Keeps one Retell call's row in step with its socket, off the socket's hot path.

The socket handler tells the recorder what it learns (call details, the transcript Retell
resends, the replies the agent finished); a single writer task saves the newest state
`flush_interval` seconds after a change (batching what arrives meanwhile) on the voice server's
own thread pool, so a slow or locked database never delays a ping answer or a reply frame.
`finalize` computes the structured result and analysis from (context, transcript) and writes
the ended call; it can run more than once (end_call, then the socket closing, then a reconnect
closing) and each run is a full idempotent merge.

Nothing is written before `activate` (the first valid frame from Retell): a socket that never
says anything leaves no row. An ended call that neither the database nor the outbox takes is
kept in memory and retried with backoff until storage returns; meanwhile its recorder is in
`unsaved`, which /healthz answers 503 for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from agent import analyze, extract_result
from agent.types import CallContext, transcript_from
from db import Store, StoreError, StoreUnavailable
from db.models import Call, CallStatus, CallUpdate, Provider
from db.outbox import OutboxRefused
from protocols.retell.messages import RetellCall
from voice_server.blocking import run_blocking
from voice_server.emergency_alerts import EmergencyAlerts
from voice_server.retell_call_row import call_row, driver_of

log = logging.getLogger(__name__)

TranscriptRows = list[dict[str, str]]

FINALIZE_ATTEMPTS = 3  # for a write the database refuses for good (bad data)
FINALIZE_FIRST_RETRY_SECS = 0.1
FINALIZE_MAX_RETRY_SECS = 5.0


def context_from_call(call: Call | None, *, transfer_number: str | None) -> CallContext:
    """The call context already known from the row (a call started through our API)."""
    if call is None:
        return CallContext(transfer_number=transfer_number)
    return CallContext.from_mapping(
        {
            "driver_name": call.driver_name,
            "load_number": call.load_number,
            "origin": call.origin,
            "destination": call.destination,
            "appointment": call.appointment,
            "scenario": call.scenario,
            "local_time": _recorded_local_time(call.metadata or {}),
            "driver_phone": call.from_number
            if (call.metadata or {}).get("direction") == "inbound"
            else call.to_number,
        },
        transfer_number=transfer_number,
    )


def _recorded_local_time(metadata: dict[str, Any]) -> str | None:
    """The local time the call started with: kept by `start_call`, or in the dynamic variables
    a webhook stored."""
    variables = metadata.get("retell_llm_dynamic_variables")
    variables = variables if isinstance(variables, dict) else {}
    value = metadata.get("local_time") or variables.get("local_time")
    return value if isinstance(value, str) else None


class RetellCallRecorder:
    def __init__(
        self,
        store: Store,
        provider_call_id: str,
        *,
        keywords: tuple[str, ...],
        alerts: EmergencyAlerts | None = None,
        flush_interval: float = 0.25,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        executor: Executor | None = None,
        unsaved: set[object] | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.unsaved: set[object] = unsaved if unsaved is not None else set()
        self.provider_call_id = provider_call_id
        self.keywords = keywords
        self.alerts = alerts
        self.flush_interval = flush_interval
        self.clock = clock
        self.transcript: TranscriptRows = []
        self.started_at: datetime | None = None
        self._pending: dict[str, Any] = {}
        self._dirty = asyncio.Event()
        self._closing = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._final_lock = asyncio.Lock()
        self.active = False  # Retell has sent a valid frame: the call exists
        self._existing: Call | None = None
        self._opened = False
        self._start_merged = False

    # --- what the socket learns ---------------------------------------------------------------

    async def open(self) -> Call | None:
        """Read the row (a reconnect continues it). Writes nothing: `activate` starts that."""
        existing = await self._read_existing()
        self._existing = existing
        self.started_at = (existing.started_at if existing else None) or self.clock()
        if existing is not None and len(existing.transcript) > len(self.transcript):
            self.transcript = [dict(turn) for turn in existing.transcript]
        self._opened = True
        self._merge_start()
        return existing

    def activate(self) -> None:
        """Retell spoke on this socket: the call is ongoing and its row is kept from now on."""
        if self.active:
            return
        self.active = True
        self._merge(status=CallStatus.ONGOING)
        self._merge_start()
        self._writer = asyncio.create_task(self._write_loop())

    def _merge_start(self) -> None:
        if self.active and self._opened and not self._start_merged:
            self._start_merged = True
            known = self._existing is not None and self._existing.started_at
            self._merge(started_at=None if known else self.started_at)

    def learn_call_details(self, context: CallContext, call: RetellCall) -> None:
        row = call_row(call, context)
        if row.started_at is not None:
            self._start_merged = True  # Retell's own start time wins over our clock
        self._merge(driver=driver_of(call, context), **row.model_dump())

    def observe_transcript(self, transcript: TranscriptRows) -> None:
        """Retell's transcript (what was really said) wins over our own guess at equal length."""
        if len(transcript) >= len(self.transcript):
            self.transcript = transcript
            self._dirty.set()

    def agent_replied(self, transcript: TranscriptRows, text: str) -> None:
        """A finished reply, kept until Retell resends a transcript containing it."""
        if text.strip():
            self.observe_transcript([*transcript, {"role": "agent", "content": text.strip()}])

    def _merge(self, **fields: Any) -> None:
        self._pending.update({k: v for k, v in fields.items() if v is not None})
        self._dirty.set()

    # --- writing -----------------------------------------------------------------------------

    async def _read_existing(self) -> Call | None:
        try:
            return await run_blocking(
                self.executor, self.store.get_call, self.provider_call_id, Provider.RETELL
            )
        except StoreError as exc:
            log.warning("call %s: could not read the existing row: %s", self.provider_call_id, exc)
            return None

    async def _write_loop(self) -> None:
        while True:
            await self._dirty.wait()
            # Write a moment after a change, not at once: the reply to the request that brought
            # the change goes out first, and the write's CPU work (in a thread, under the GIL)
            # lands between turns. Finalize cuts the wait short and writes everything itself.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.flush_interval)
            if self._closing.is_set():
                return
            self._dirty.clear()
            if await self._write_snapshot() is not None:
                self._dirty.set()  # try again after the next interval

    async def _write_snapshot(self, **final_fields: Any) -> StoreError | None:
        """Write pending fields and the transcript; the error when that failed (kept pending)."""
        pending, self._pending = self._pending, {}
        fields = {**pending, **final_fields, "transcript": list(self.transcript) or None}
        try:
            await run_blocking(self.executor, self._write, fields)
            return None
        except StoreError as exc:
            log.warning("call %s: write failed, will retry: %s", self.provider_call_id, exc)
            self._pending = {**pending, **self._pending}
            return exc

    def _write(self, fields: dict[str, Any]) -> None:
        # `driver` is (name, phone) until written once: resolved to its id here, in the thread.
        if (driver := fields.pop("driver", None)) is not None:
            fields["driver_id"] = self.store.ensure_driver(*driver)
        self.store.upsert_call(Provider.RETELL, self.provider_call_id, CallUpdate(**fields))

    async def finalize(
        self, context: CallContext, *, reason: str | None = None, socket_open: bool = False
    ) -> bool:
        """Write the ended call: transcript, structured result, analysis, duration.

        Safe to call again; the writer task is drained first so no older snapshot lands after.
        With `socket_open` (the agent ended the call, Retell has not hung up yet) the writer
        resumes afterwards, so turns after a discarded end_call are still saved as they come.
        While neither the database nor the outbox takes the write it is retried with backoff,
        for as long as that takes. Returns False only when the database refused it for good,
        and True without writing for a socket Retell never spoke on.
        """
        if not self.active:
            return True
        async with self._final_lock:
            self._closing.set()
            self._dirty.set()
            if self._writer is not None:
                await asyncio.gather(self._writer, return_exceptions=True)
            ended_at = self.clock()
            started_at = self.started_at or ended_at
            final = await run_blocking(
                self.executor, self._final_fields, context, list(self.transcript)
            )
            final.update(
                status=CallStatus.ENDED,
                ended_at=ended_at,
                duration_secs=round(max(0.0, (ended_at - started_at).total_seconds()), 3),
                disconnection_reason=reason,
            )
            written = await self._write_until_kept(final)
            await self._raise_alert(context, final.get("structured"))
            if socket_open:
                self._closing.clear()
                self._writer = asyncio.create_task(self._write_loop())
            return written

    async def alert_office(self, context: CallContext) -> None:
        """The agent told the driver the office was alerted (the call goes on): save the
        result so far and raise the alert now, not when the call ends."""
        async with self._final_lock:
            fields = await run_blocking(
                self.executor, self._final_fields, context, list(self.transcript)
            )
            if await self._write_snapshot(structured=fields["structured"]) is None:
                await self._raise_alert(context, fields["structured"])

    async def _raise_alert(self, context: CallContext, structured: dict[str, Any] | None) -> None:
        if self.alerts is None:
            return
        await run_blocking(
            self.executor,
            self.alerts.raise_for,
            Provider.RETELL,
            self.provider_call_id,
            structured,
            driver_name=context.driver_name,
            driver_phone=context.callback_number,
            load_number=context.load_number,
        )

    async def _write_until_kept(self, final: dict[str, Any]) -> bool:
        refusals = 0
        delay = FINALIZE_FIRST_RETRY_SECS
        try:
            while (error := await self._write_snapshot(**final)) is not None:
                if isinstance(error, StoreUnavailable | OutboxRefused):
                    # Nowhere to keep it but here: /healthz answers 503 until it is kept.
                    self.unsaved.add(self)
                else:
                    refusals += 1
                    if refusals >= FINALIZE_ATTEMPTS:
                        log.error("call %s: finalization refused: %s", self.provider_call_id, error)
                        return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, FINALIZE_MAX_RETRY_SECS)
            return True
        finally:
            self.unsaved.discard(self)

    def _final_fields(self, context: CallContext, transcript: TranscriptRows) -> dict[str, Any]:
        turns = transcript_from(transcript)
        result = extract_result(context, turns)
        analysis = analyze(turns, keywords=self.keywords)
        return {
            "structured": result.to_dict(),
            "keyword_hits": analysis.keyword_hits,
            "sentiment": analysis.sentiment,
            "interruptions_est": analysis.interruptions_est,
            "tokens_estimated": analysis.tokens_estimated,
        }
