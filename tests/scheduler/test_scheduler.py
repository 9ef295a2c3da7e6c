"""The scheduler on each backend, with an injected clock and an engine double: slots are
placed once, retries follow the policy, a completed call is never retried, late slots follow
the setting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from agent.vocabulary import CallOutcome, EmergencyType
from db.load_models import BoardFilters, CallPlan, LoadPatch, SlotState
from db.models import CallStatus, CallUpdate, Provider
from db.store import Store
from scheduler.runner import Scheduler, call_now_slot
from tests.scheduler.conftest import T0, RecordingDialer, SteppedClock, a_load

NO_QUIET = {"quiet_start": "00:00", "quiet_end": "00:00", "engine": "retell"}


def scheduler_for(
    store: Store,
    clock: SteppedClock,
    dialer: RecordingDialer,
    *,
    cap: int = 10,
    late: timedelta | None = timedelta(minutes=30),
) -> Scheduler:
    return Scheduler(
        store,
        defaults=CallPlan(engine="retell"),
        dialers={"retell": dialer},
        caps={"retell": cap},
        clock=clock,
        skip_late_after=late,
        result_timeout=timedelta(hours=2),
        emergency_followup=timedelta(minutes=30),
    )


def tick(scheduler: Scheduler) -> None:
    asyncio.run(scheduler.run_once())


def test_a_due_slot_is_placed_once_and_a_completed_call_is_not_retried(
    store: Store, clock: SteppedClock
) -> None:
    dialer = RecordingDialer(store)
    store.upsert_loads([a_load(plan=NO_QUIET)])
    scheduler = scheduler_for(store, clock, dialer)
    tick(scheduler)
    assert dialer.placed == []  # first in-transit call is at 18:00 (pickup + 4 h)
    clock.now = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    for _ in range(4):
        tick(scheduler)
    assert len(dialer.placed) == 1
    attempts = store.load_attempts("L-100")
    assert [(a.outcome, a.state) for a in attempts] == [("completed", "settled")]
    slot = next(s for s in store.load_slots("L-100") if s.attempts)
    assert slot.state is SlotState.DONE and slot.attempts == 1


def test_no_answer_busy_voicemail_retry_with_backoff_then_driver_unreachable(
    store: Store, clock: SteppedClock
) -> None:
    dialer = RecordingDialer(store, answers={"L-100": ["no_answer", "busy", "voicemail"]})
    store.upsert_loads([a_load(plan={**NO_QUIET, "retry_minutes": 10})])
    scheduler = scheduler_for(store, clock, dialer)
    clock.now = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    tick(scheduler)
    tick(scheduler)  # settles the unanswered call: retry in 10 minutes
    clock.advance(minutes=9)
    tick(scheduler)
    assert len(dialer.placed) == 1
    clock.advance(minutes=1)
    tick(scheduler)
    tick(scheduler)  # busy: retry in 20 minutes
    clock.advance(minutes=19)
    tick(scheduler)
    assert len(dialer.placed) == 2
    clock.advance(minutes=1)
    tick(scheduler)
    tick(scheduler)  # voicemail on the last of 3 attempts
    clock.advance(hours=1)
    tick(scheduler)
    assert [p[2] for p in dialer.placed] == [1, 2, 3]
    outcomes = [a.outcome for a in reversed(store.load_attempts("L-100"))]
    assert outcomes == ["no_answer", "busy", "voicemail"]
    load = store.get_load("L-100")
    assert load is not None and load.unreachable_at is not None
    board = store.dispatch_board(BoardFilters(only_problems=True))
    assert [row.load.load_number for row in board] == ["L-100"]
    assert board[0].attempts == 3


def test_a_refused_start_is_retried_and_a_later_answer_completes(
    store: Store, clock: SteppedClock
) -> None:
    dialer = RecordingDialer(store, answers={"L-100": ["refuse", "talk"]})
    store.upsert_loads([a_load(plan=NO_QUIET)])
    scheduler = scheduler_for(store, clock, dialer)
    clock.now = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    tick(scheduler)
    attempts = store.load_attempts("L-100")
    assert attempts[0].outcome == "failed_start" and "429" in (attempts[0].detail or "")
    clock.advance(minutes=10)
    tick(scheduler)
    tick(scheduler)
    assert [a.outcome for a in store.load_attempts("L-100")] == ["completed", "failed_start"]
    load = store.get_load("L-100")
    assert load is not None and load.unreachable_at is None


def test_a_slot_missed_while_down_is_skipped_when_too_late_or_placed_once(
    store: Store, clock: SteppedClock
) -> None:
    store.upsert_loads([a_load("L-1", plan=NO_QUIET)])
    dialer = RecordingDialer(store)
    skipping = scheduler_for(store, clock, dialer, late=timedelta(minutes=30))
    tick(skipping)  # plans the load at 15:00
    clock.now = datetime(2026, 3, 6, 19, 0, tzinfo=UTC)  # down from 15:00 to 19:00
    tick(skipping)
    assert dialer.placed == []
    assert any(s.last_outcome == "too_late" for s in store.load_slots("L-1"))

    store.upsert_loads([a_load("L-2", plan=NO_QUIET)])  # also planned at 15:00, then down
    placing = scheduler_for(store, clock, dialer, late=None)
    clock.now = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    tick(placing)
    clock.now = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)  # 18:00 and 22:00 both missed
    tick(placing)
    tick(placing)
    # Each missed slot is placed once, never again.
    second = [p for p in dialer.placed if p[0] == "L-2"]
    assert len(second) == 2 and len({slot for _, slot, _ in second}) == 2


def test_the_engine_cap_holds_unsettled_calls(store: Store, clock: SteppedClock) -> None:
    store.upsert_loads([a_load(f"L-{n}", plan=NO_QUIET) for n in range(3)])
    dialer = RecordingDialer(store)
    scheduler = scheduler_for(store, clock, dialer, cap=1)
    clock.now = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    tick(scheduler)
    assert len(dialer.placed) == 1
    tick(scheduler)  # the first settles, the next is placed
    assert len(dialer.placed) == 2


def test_quiet_hours_defer_retries_but_not_an_emergency_follow_up(
    store: Store, clock: SteppedClock
) -> None:
    # Quiet 22:00-06:00 Chicago; the 4 h call after a 14:00 UTC pickup is at 18:00 UTC (12:00).
    dialer = RecordingDialer(store, answers={"L-100": ["emergency", "no_answer"]})
    store.upsert_loads([a_load(plan={"engine": "retell", "every_hours": 12})])
    scheduler = scheduler_for(store, clock, dialer)
    clock.now = datetime(2026, 3, 7, 3, 50, tzinfo=UTC)  # 21:50 in Chicago
    store.add_call_slot(
        "L-100", call_now_slot(store.get_load("L-100"), CallPlan(engine="retell"), clock.now)
    )  # type: ignore[arg-type]
    tick(scheduler)
    tick(scheduler)  # the emergency call settles: a follow-up 30 minutes later (22:20 local)
    followups = [s for s in store.load_slots("L-100") if s.kind == "emergency_followup"]
    assert len(followups) == 1 and followups[0].quiet_exempt
    clock.advance(minutes=30)
    tick(scheduler)
    assert len(dialer.placed) == 2  # placed inside quiet hours
    board = store.dispatch_board(BoardFilters())
    assert board[0].open_emergency


def test_an_emergency_stays_open_on_the_board_until_a_later_call_answers(store: Store) -> None:
    store.upsert_loads([a_load()])

    def call(minute: int, outcome: CallOutcome, emergency: EmergencyType | None = None) -> None:
        store.upsert_call(
            Provider.RETELL,
            f"call-{minute}",
            CallUpdate(
                load_number="L-100",
                status=CallStatus.ENDED,
                created_at=T0 + timedelta(minutes=minute),
                structured={"call_outcome": outcome.value, "emergency_type": emergency},
            ),
        )

    call(0, CallOutcome.EMERGENCY_ESCALATION, EmergencyType.ACCIDENT)
    call(5, CallOutcome.INCOMPLETE)  # no answer to speak of: the emergency is still open
    [row] = store.dispatch_board(BoardFilters())
    assert row.open_emergency and row.last_emergency_type == EmergencyType.ACCIDENT
    call(10, CallOutcome.IN_TRANSIT_UPDATE)
    [row] = store.dispatch_board(BoardFilters())
    assert not row.open_emergency


def test_paused_loads_wait_and_call_now_is_placed_at_once(
    store: Store, clock: SteppedClock
) -> None:
    store.upsert_loads([a_load("L-1", plan=NO_QUIET), a_load("L-2", plan=NO_QUIET)])
    dialer = RecordingDialer(store)
    scheduler = scheduler_for(store, clock, dialer)
    store.update_load("L-1", LoadPatch(paused=True))
    load = store.get_load("L-2")
    assert load is not None
    assert store.add_call_slot("L-2", call_now_slot(load, CallPlan(engine="retell"), clock.now))
    store.add_call_slot("L-1", call_now_slot(load, CallPlan(engine="retell"), clock.now))
    tick(scheduler)
    assert [p[0] for p in dialer.placed] == ["L-2"]
    store.update_load("L-1", LoadPatch(paused=False))
    tick(scheduler)
    assert sorted(p[0] for p in dialer.placed) == ["L-1", "L-2"]
