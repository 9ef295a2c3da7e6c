"""The call's local time, fixed once when the call starts and handed to the agent with the rest
of the call context (`local_time`).

The agent places "in 2 hours" and weekday appointments against this moment, so it is recorded
once (never "now" at each turn): the agent's result stays a function of the call context and the
transcript across reconnects and replicas. The moment is given in the zone of the delivery
appointment when the appointment names one ("Thu Nov 26, 2:00 PM CST", an ISO time with an
offset, "America/Denver"), else in DISPATCH_TIMEZONE.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Abbreviations as `%Z` prints them (and as dispatchers write them): the ones that name their
# daylight-saving state are fixed offsets, the generic ones are their zone's rules.
_FIXED_OFFSETS = {
    "UTC": 0,
    "GMT": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "AKST": -9,
    "AKDT": -8,
    "HST": -10,
}
_GENERIC_ZONES = {
    "ET": "America/New_York",
    "CT": "America/Chicago",
    "MT": "America/Denver",
    "PT": "America/Los_Angeles",
    "AKT": "America/Anchorage",
    "HT": "Pacific/Honolulu",
}
_ABBREVIATION = re.compile(r"\b(" + "|".join({*_FIXED_OFFSETS, *_GENERIC_ZONES}) + r")\b")
_IANA_NAME = re.compile(r"\b[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z_+-]+)+\b")


def appointment_zone(appointment: str | None) -> tzinfo | None:
    """The time zone an appointment's text names, None when it names none."""
    text = (appointment or "").strip()
    if not text:
        return None
    try:
        written = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        if written.tzinfo is not None:
            return written.tzinfo
    for name in _IANA_NAME.findall(text):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    if match := _ABBREVIATION.search(text):  # upper case only: "pt" or "mt" in words is not one
        abbreviation = match.group(1)
        if abbreviation in _FIXED_OFFSETS:
            hours = _FIXED_OFFSETS[abbreviation]
            return UTC if hours == 0 else timezone(timedelta(hours=hours), abbreviation)
        return ZoneInfo(_GENERIC_ZONES[abbreviation])
    return None


def call_local_time(appointment: str | None, default_zone: str, at: datetime | None = None) -> str:
    """The call's start (`at`, default now) as ISO 8601 with its offset, in the appointment's
    zone or else `default_zone` (an IANA name, DISPATCH_TIMEZONE)."""
    moment = at if at is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("a call's start must be an aware datetime")
    zone = appointment_zone(appointment) or ZoneInfo(default_zone)
    return moment.astimezone(zone).isoformat(timespec="seconds")
