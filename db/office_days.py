"""Days in the office's time zone (DISPATCH_TIMEZONE, an IANA name) for SQL that has no time-zone
database: SQLite.

A zone is written as its UTC offsets over time, one row per change (`starts_at` is the UTC
instant the offset starts, as calllog.created_at stores instants; the first row starts at ''
and so covers everything before). SQLite reads such a table to key a call on its day in the
office: the rollup triggers (sqlite_definitions.sql) and the Store's scans read the same
offsets, so whole days from the rollups and days scanned from the calls always agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The offsets are listed for instants in these years; before and after, the nearest one holds
# (zoneinfo itself extends a zone's last rule to later years).
FIRST_YEAR, LAST_YEAR = 1970, 2100
_STEP = timedelta(days=1)  # no zone changes its offset twice within a day
_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # as db.sqlite_queries.TIMESTAMP_FORMAT


class UnknownTimezone(ValueError):
    """Not an IANA time-zone name this machine knows."""


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimezone(
            f"{name!r} is not an IANA time-zone name (e.g. America/Chicago, UTC)"
        ) from exc


def _offset_secs(zone: ZoneInfo, moment: datetime) -> int:
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def _change_between(zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The first whole second in (low, high] with high's offset (low's offset differs)."""
    target = _offset_secs(zone, high)
    while high - low > timedelta(seconds=1):
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if _offset_secs(zone, middle) == target:
            high = middle
        else:
            low = middle
    return high


@lru_cache(maxsize=8)
def offset_changes(name: str) -> tuple[tuple[str, int], ...]:
    """(starts_at, UTC offset in seconds) for every change of the zone's offset, oldest first."""
    zone = zone_named(name)
    moment = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
    end = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
    current = _offset_secs(zone, moment)
    changes = [("", current)]
    while moment < end:
        following = moment + _STEP
        offset = _offset_secs(zone, following)
        if offset != current:
            starts = _change_between(zone, moment, following)
            changes.append((starts.strftime(_FORMAT), offset))
            current = offset
        moment = following
    return tuple(changes)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of the office's `day`, in UTC (where a day starts in a DST gap too)."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def first_whole_day(moment: datetime, zone: ZoneInfo) -> date:
    """The first office day that starts at or after `moment` (an aware datetime)."""
    day = moment.astimezone(zone).date()
    return day if day_start(day, zone) >= moment else day + timedelta(days=1)


def day_of(moment: datetime, zone: ZoneInfo) -> date:
    """The office day `moment` (an aware datetime) falls in."""
    return moment.astimezone(zone).date()
