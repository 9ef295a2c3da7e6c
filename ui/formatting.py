"""How figures and times read on every page: the office's time zone, "—" for nothing, "1 call".

Times are stored in UTC; a person reads them in the office's zone (DISPATCH_TIMEZONE, an IANA
name such as America/Chicago), labelled, and a date picked in a filter means that day there.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from settings import ConfigError, get_settings

EMPTY = "—"


def office_zone() -> ZoneInfo:
    try:
        return ZoneInfo(get_settings().dispatch_timezone)
    except ConfigError:
        return ZoneInfo("UTC")


def zone_label(zone: ZoneInfo | None = None) -> str:
    return (zone or office_zone()).key


def local(moment: datetime, zone: ZoneInfo | None = None) -> datetime:
    """The instant in the office's zone (a naive datetime is taken as UTC, as stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone or office_zone())


def time_text(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """`2026-11-28 09:15 CST`: the office's local time with its zone's abbreviation."""
    if moment is None:
        return EMPTY
    shown = local(moment)
    return f"{shown.strftime(pattern)} {shown.tzname()}"


def today(zone: ZoneInfo | None = None, now: datetime | None = None) -> date:
    """Today's date in the office."""
    return local(now or datetime.now(UTC), zone).date()


def day_start(day: date, zone: ZoneInfo | None = None) -> datetime:
    """Midnight starting `day` in the office, as an aware datetime (DST-safe)."""
    return datetime.combine(day, time.min, tzinfo=zone or office_zone())


def day_end(day: date, zone: ZoneInfo | None = None) -> datetime:
    """Midnight ending `day` in the office (23, 24 or 25 hours after its start)."""
    return day_start(day + timedelta(days=1), zone)


def or_empty(value: object, pattern: str = "{}") -> str:
    """The value formatted, or "—" when there is none."""
    if value is None or value == "":
        return EMPTY
    return pattern.format(value)


def count_of(count: int, singular: str, plural: str | None = None) -> str:
    """`1 call`, `2,000 calls`, `0 calls`."""
    noun = singular if count == 1 else (plural or singular + "s")
    return f"{count:,} {noun}"
