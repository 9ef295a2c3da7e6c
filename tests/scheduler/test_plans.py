"""Plans expand into the right slots across time zones and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from db.load_models import CallPlan, Load, LoadStatus, SlotKind
from scheduler.plans import after_quiet_hours, effective_plan, expand, in_quiet_hours
from tests.scheduler.conftest import a_load

CHICAGO = ZoneInfo("America/Chicago")


def load(**fields: object) -> Load:
    """A load across Chicago's spring-forward change (2026-03-08), delivered in New York."""
    planned = a_load(
        "L-1",
        pickup_at=datetime(2026, 3, 7, 14, 0, tzinfo=UTC),
        delivery_at=datetime(2026, 3, 9, 15, 0, tzinfo=UTC),
        delivery_tz="America/New_York",
        **fields,
    )
    added = datetime(2026, 3, 1, tzinfo=UTC)
    return Load.model_validate(planned.model_dump() | {"created_at": added, "updated_at": added})


def test_every_n_hours_is_elapsed_time_across_the_spring_forward_change() -> None:
    # DST starts in Chicago on 2026-03-08 at 02:00 local; every 6 h stays 6 h of real time.
    plan = CallPlan(
        every_hours=6,
        before_delivery_minutes=0,
        after_delivery_minutes=0,
        quiet_start="00:00",
        quiet_end="00:00",
    )
    slots = expand(load(), plan, now=datetime(2026, 3, 7, tzinfo=UTC))
    dues = [s.due_at for s in slots]
    assert all(s.kind is SlotKind.INTERVAL for s in slots)
    assert all((b - a).total_seconds() == 6 * 3600 for a, b in zip(dues, dues[1:], strict=False))
    assert dues[0] == datetime(2026, 3, 7, 20, 0, tzinfo=UTC)
    assert dues[-1] < datetime(2026, 3, 9, 15, 0, tzinfo=UTC)


def test_quiet_hours_follow_the_drivers_wall_clock_across_dst() -> None:
    plan = CallPlan(quiet_start="22:00", quiet_end="06:00")
    # 05:30 local is quiet both before (CST, UTC-6) and after (CDT, UTC-5) the change.
    assert in_quiet_hours(datetime(2026, 3, 7, 11, 30, tzinfo=UTC), CHICAGO, plan)
    assert in_quiet_hours(datetime(2026, 3, 9, 10, 30, tzinfo=UTC), CHICAGO, plan)
    assert not in_quiet_hours(datetime(2026, 3, 9, 11, 30, tzinfo=UTC), CHICAGO, plan)
    # A call due at 23:00 CST on the night of the change moves to 06:00 CDT = 11:00 UTC.
    moved = after_quiet_hours(datetime(2026, 3, 8, 5, 0, tzinfo=UTC), CHICAGO, plan)
    assert moved == datetime(2026, 3, 8, 11, 0, tzinfo=UTC)
    assert moved.astimezone(CHICAGO).hour == 6


def test_in_transit_calls_in_quiet_hours_collapse_into_one_morning_call() -> None:
    plan = CallPlan(every_hours=2, before_delivery_minutes=60, after_delivery_minutes=30)
    slots = expand(load(), plan, now=datetime(2026, 3, 7, tzinfo=UTC))
    for slot in slots:
        assert not in_quiet_hours(slot.due_at, CHICAGO, plan), slot
    mornings = [s for s in slots if s.due_at.astimezone(CHICAGO).strftime("%H:%M") == "06:00"]
    assert len(mornings) == 2  # one per night (7th->8th, 8th->9th), not one per interval
    kinds = [s.kind for s in slots]
    assert kinds.count(SlotKind.BEFORE_DELIVERY) == 1 and kinds.count(SlotKind.AFTER_DELIVERY) == 1
    before = next(s for s in slots if s.kind is SlotKind.BEFORE_DELIVERY)
    assert before.due_at == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def test_same_plan_expands_to_the_same_keys_and_only_one_catch_up_call() -> None:
    plan = CallPlan(every_hours=4, quiet_start="00:00", quiet_end="00:00")
    later = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    first = expand(load(), plan, now=later)
    again = expand(load(), plan, now=later)
    assert [s.slot_key for s in first] == [s.slot_key for s in again]
    past = [s for s in first if s.kind is SlotKind.INTERVAL and s.due_at <= later]
    assert len(past) == 1  # the calls missed before the load was known are not all placed


def test_loads_not_in_transit_get_no_slots_and_overrides_apply() -> None:
    plan = CallPlan()
    assert expand(load(status=LoadStatus.PLANNED), plan, now=datetime(2026, 3, 7, tzinfo=UTC)) == []
    tuned = effective_plan(load(plan={"every_hours": 0, "engine": "retell"}), plan)
    assert tuned.every_hours == 0 and tuned.engine == "retell" and tuned.max_attempts == 3
    slots = expand(load(plan={"every_hours": 0}), tuned, now=datetime(2026, 3, 7, tzinfo=UTC))
    assert {s.kind for s in slots} == {SlotKind.BEFORE_DELIVERY, SlotKind.AFTER_DELIVERY}
    assert all(s.engine == "retell" for s in slots)
