"""One scheduler: each tick plans changed loads, settles attempts whose calls ended, claims due
slots within each engine's cap and places them, and delivers TMS webhooks.

Every rule reads the injected `clock`, never the wall clock, so tests step time instead of
sleeping. Any number of schedulers may run on PostgreSQL/Supabase: claims are row locks taken
with SKIP LOCKED, so each (slot, attempt) is placed by exactly one of them; an attempt whose
scheduler died mid-placement is settled as interrupted once its lease lapses and retried only
after the result timeout (it may have rung), never placed again blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from db.load_models import (
    AttemptOutcome,
    AttemptPlacement,
    CallPlan,
    ClaimedAttempt,
    Load,
    LoadSlots,
    OpenAttempt,
    PlannedSlot,
    SlotKind,
)
from db.store import Store, StoreError
from scheduler.dialers import Dialer, PlacementFailed
from scheduler.plans import effective_plan, expand
from scheduler.retry import call_outcome, settlement
from scheduler.tms_webhook import TmsWebhookSender

log = logging.getLogger(__name__)

CLAIM_BATCH = 50
PLAN_BATCH = 500
SETTLE_BATCH = 500
LEASE_SECS = 60.0  # longer than any engine takes to start a call


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class TickReport:
    planned: int = 0
    settled: int = 0
    placed: int = 0
    failed_starts: int = 0
    webhooks_delivered: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def call_now_slot(load: Load, plan: CallPlan, now: datetime) -> PlannedSlot:
    """A dispatcher's "call now": due at once, allowed in quiet hours."""
    return PlannedSlot(
        slot_key=f"call_now:{now.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}",
        kind=SlotKind.CALL_NOW,
        due_at=now,
        engine=plan.engine,
        max_attempts=plan.max_attempts,
        quiet_exempt=True,
    )


class Scheduler:
    def __init__(
        self,
        store: Store,
        *,
        defaults: CallPlan,
        dialers: dict[str, Dialer],
        caps: dict[str, int],
        clock: Callable[[], datetime],
        skip_late_after: timedelta | None,
        result_timeout: timedelta,
        emergency_followup: timedelta,
        webhooks: TmsWebhookSender | None = None,
        owner: str | None = None,
        claim_batch: int = CLAIM_BATCH,
        lease_secs: float = LEASE_SECS,
    ) -> None:
        self.lease_secs = lease_secs
        self.store = store
        self.defaults = defaults
        self.dialers = dialers
        self.caps = caps
        self.clock = clock
        self.skip_late_after = skip_late_after
        self.result_timeout = result_timeout
        self.emergency_followup = emergency_followup
        self.webhooks = webhooks
        self.owner = owner or new_owner()
        self.claim_batch = claim_batch

    # -- one tick ----------------------------------------------------------------------------

    async def run_once(self) -> TickReport:
        report = TickReport()
        now = self.clock()
        report.planned = await asyncio.to_thread(self.plan_changed_loads, now)
        await asyncio.to_thread(self.settle_open_attempts, now, report)
        claimed: list[ClaimedAttempt] = []
        for engine in self.dialers:
            claimed += await asyncio.to_thread(
                self.store.claim_due_slots,
                engine,
                now,
                limit=self.claim_batch,
                cap=self.caps.get(engine, 1),
                owner=self.owner,
                lease_secs=self.lease_secs,
                late_secs=self.skip_late_after.total_seconds() if self.skip_late_after else None,
            )
        placements = await asyncio.gather(*(self._place(attempt) for attempt in claimed))
        placed = [placement for placement in placements if placement is not None]
        if placed:
            # One commit for the whole claim; an attempt whose scheduler dies before it is
            # settled as interrupted, never placed again blindly.
            await asyncio.to_thread(self.store.mark_attempts_placed, placed, self.clock())
        report.placed = len(placed)
        report.failed_starts = len(claimed) - len(placed)
        if self.webhooks is not None:
            report.webhooks_delivered = await self.webhooks.run_once(self.clock())
        return report

    async def run_forever(self, stop: asyncio.Event, tick_secs: float = 1.0) -> None:
        while not stop.is_set():
            try:
                report = await self.run_once()
                if report.placed or report.settled or report.planned:
                    log.info("tick: %s", report)
                if report.placed + report.failed_starts >= self.claim_batch:
                    continue  # a backlog: claim the next batch at once
            except StoreError as exc:
                log.warning("database unavailable, retrying: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick_secs)

    # -- planning ----------------------------------------------------------------------------

    def plan_changed_loads(self, now: datetime) -> int:
        planned = 0
        while loads := self.store.loads_to_plan(PLAN_BATCH):
            plans = [
                LoadSlots(
                    load_number=load.load_number,
                    version=load.version,
                    slots=expand(load, effective_plan(load, self.defaults), now=now),
                )
                for load in loads
            ]
            planned += self.store.sync_loads_slots(plans)
            if len(loads) < PLAN_BATCH:
                break
        return planned

    # -- settling ----------------------------------------------------------------------------

    def settle_open_attempts(self, now: datetime, report: TickReport) -> None:
        stale_before = now - self.result_timeout
        for attempt in self.store.open_attempts(now, stale_before, SETTLE_BATCH):
            outcome = call_outcome(attempt)
            if self._settle(attempt, outcome, now, detail=_detail(attempt, outcome)):
                report.settled += 1
                report.outcomes[outcome.value] = report.outcomes.get(outcome.value, 0) + 1

    def _settle(
        self, attempt: OpenAttempt, outcome: AttemptOutcome, now: datetime, detail: str | None
    ) -> bool:
        plan = effective_plan(attempt.load, self.defaults)
        decided = settlement(
            attempt,
            outcome,
            plan=plan,
            now=now,
            detail=detail,
            # Interrupted: it may have rung; give its result the time a placed call gets.
            not_before=attempt.claimed_at + self.result_timeout
            if outcome is AttemptOutcome.INTERRUPTED
            else None,
            call_result=attempt.call_outcome,
        )
        if not self.store.settle_attempt(attempt.attempt_id, decided, now):
            return False
        if outcome is AttemptOutcome.COMPLETED and attempt.emergency_type:
            self.store.add_call_slot(
                attempt.load_number,
                PlannedSlot(
                    slot_key=f"emergency_followup:{attempt.provider_call_id}",
                    kind=SlotKind.EMERGENCY_FOLLOWUP,
                    due_at=now + self.emergency_followup,
                    engine=plan.engine,
                    max_attempts=plan.max_attempts,
                    quiet_exempt=True,
                ),
            )
        return True

    # -- placing -----------------------------------------------------------------------------

    async def _place(self, claimed: ClaimedAttempt) -> AttemptPlacement | None:
        dialer = self.dialers[claimed.engine]
        try:
            placement = await dialer.place(claimed)
        except PlacementFailed as exc:
            log.info("load %s: call not started: %s", claimed.load.load_number, exc)
            await asyncio.to_thread(self._failed_start, claimed, str(exc))
            return None
        return AttemptPlacement(
            attempt_id=claimed.attempt_id,
            provider=placement.provider,
            provider_call_id=placement.provider_call_id,
        )

    def _failed_start(self, claimed: ClaimedAttempt, reason: str) -> None:
        now = self.clock()
        plan = effective_plan(claimed.load, self.defaults)
        decided = settlement(
            claimed, AttemptOutcome.FAILED_START, plan=plan, now=now, detail=reason[:500]
        )
        self.store.settle_attempt(claimed.attempt_id, decided, now)

    async def aclose(self) -> None:
        for dialer in self.dialers.values():
            await dialer.aclose()
        if self.webhooks is not None:
            await self.webhooks.aclose()


def _detail(attempt: OpenAttempt, outcome: AttemptOutcome) -> str | None:
    if outcome is AttemptOutcome.INTERRUPTED:
        return "the scheduler stopped while placing this call"
    if attempt.call_status is None:
        return "no result from the engine in time"
    return attempt.disconnection_reason
