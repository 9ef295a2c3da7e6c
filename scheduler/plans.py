"""A load's call plan as the slots it wants: pure functions of (load, plan), no clock.

Elapsed-time rules ("every 4 hours") are UTC arithmetic, so they are right across a DST change;
wall-clock rules (quiet hours) are read in the driver's local time zone, taken to be the pickup's.
A slot's key is its planned instant, so expanding the same plan again changes nothing, and
a slot moved out of quiet hours keeps the key it was planned with.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from db.load_models import CallPlan, Load, LoadStatus, PlannedSlot, SlotKind


def effective_plan(load: Load, defaults: CallPlan) -> CallPlan:
    """The settings' plan with the load's own overrides applied."""
    return CallPlan.model_validate({**defaults.model_dump(), **(load.plan or {})})


def driver_zone(load: Load) -> ZoneInfo:
    return ZoneInfo(load.pickup_tz)


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def in_quiet_hours(at: datetime, zone: ZoneInfo, plan: CallPlan) -> bool:
    """Whether `at` falls in the plan's quiet hours in that zone's wall-clock time."""
    start, end = _clock(plan.quiet_start), _clock(plan.quiet_end)
    if start == end:
        return False
    local = at.astimezone(zone).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the window spans midnight


def after_quiet_hours(at: datetime, zone: ZoneInfo, plan: CallPlan) -> datetime:
    """`at` itself outside quiet hours, else the first instant they end (local wall clock)."""
    if not in_quiet_hours(at, zone, plan):
        return at
    local = at.astimezone(zone)
    end = _clock(plan.quiet_end)
    day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    # Built as a wall-clock time, so a DST change inside the window is accounted for.
    ends = datetime.combine(day, end, tzinfo=zone)
    return ends.astimezone(UTC)


def expand(load: Load, plan: CallPlan, *, now: datetime) -> list[PlannedSlot]:
    """The slots a load in transit wants. Of the in-transit calls already in the past only the
    latest is kept (one catch-up call, not one per missed interval); a slot in quiet hours moves
    to their end, and one pushed past the delivery appointment that way is dropped."""
    if load.status is not LoadStatus.IN_TRANSIT:
        return []
    zone = driver_zone(load)
    delivery = load.delivery_at.astimezone(UTC)
    before = timedelta(minutes=plan.before_delivery_minutes)
    wanted: list[tuple[SlotKind, datetime]] = []
    if plan.every_hours > 0:
        step = timedelta(hours=plan.every_hours)
        last_interval = delivery - before if plan.before_delivery_minutes else delivery
        at = load.pickup_at.astimezone(UTC) + step
        intervals = []
        while at < last_interval:
            intervals.append(at)
            at += step
        past = [t for t in intervals if t <= now]
        wanted += [(SlotKind.INTERVAL, t) for t in past[-1:] + [t for t in intervals if t > now]]
    if plan.before_delivery_minutes:
        wanted.append((SlotKind.BEFORE_DELIVERY, delivery - before))
    if plan.after_delivery_minutes:
        wanted.append(
            (SlotKind.AFTER_DELIVERY, delivery + timedelta(minutes=plan.after_delivery_minutes))
        )

    slots: list[PlannedSlot] = []
    taken: set[datetime] = set()
    for kind, planned in sorted(wanted, key=lambda item: item[1]):
        due = after_quiet_hours(planned, zone, plan)
        if kind is SlotKind.BEFORE_DELIVERY and due >= delivery:
            continue
        if kind is SlotKind.INTERVAL and due in taken:
            continue  # several in-transit calls moved to the same morning: one is enough
        taken.add(due)
        slots.append(
            PlannedSlot(
                slot_key=f"{kind.value}:{planned.strftime('%Y-%m-%dT%H:%MZ')}",
                kind=kind,
                due_at=due,
                engine=plan.engine,
                max_attempts=plan.max_attempts,
            )
        )
    return slots
