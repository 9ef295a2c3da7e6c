"""On-time risk: the driver's ETA against the appointment in the call context.

Both sides are read into a span of minutes on a day: "2 pm" is one minute, "tomorrow morning" is
6:00 to 12:00 tomorrow. A day is a number of days from today ("tomorrow" is 1), a weekday or a
date; two spans compare only when their days do (or when the call's local time says which date
today is). Without an ETA both sides can place, the risk is unknown (None), never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from agent.vocabulary import OnTimeStatus

AT_RISK_SLACK_MINUTES = 30  # an ETA less than this before the appointment is at risk
_DAY = 24 * 60
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Parts of the day as spans of minutes: "this afternoon" is 12:00 to 17:00.
_DAY_PARTS = (
    ("first thing", 5 * 60, 9 * 60),
    ("morning", 6 * 60, 12 * 60),
    ("afternoon", 12 * 60, 17 * 60),
    ("evening", 17 * 60, 21 * 60),
    ("tonight", 18 * 60, _DAY - 1),
    ("night", 18 * 60, _DAY - 1),
)
_PM_PARTS = ("afternoon", "evening", "tonight", "night")
_NAMED = {
    "noon": 12 * 60,
    "midday": 12 * 60,
    "lunchtime": 12 * 60,
    "end of day": 17 * 60,
    "midnight": _DAY - 1,
}

_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s?m\b\.?|\b(\d{1,2}):(\d{2})\b")
_BARE_HOUR = re.compile(r"^(?:at |by |around )?(\d{1,2})$")
_RELATIVE = re.compile(r"^in (\d+(?:\.\d+)?) (hours?|minutes)$")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}(?:$|[T ]\d{2}:\d{2})")


@dataclass(frozen=True, slots=True)
class Day:
    """Which day a time is on: days from today, a weekday (0 = Monday) or a date."""

    offset: int | None = None
    weekday: int | None = None
    on: date | None = None


@dataclass(frozen=True, slots=True)
class Span:
    day: Day
    start: int  # minutes after midnight
    end: int
    ambiguous_half: bool = False  # "6:00": 6 am or 6 pm, decided against the appointment


@dataclass(frozen=True, slots=True)
class OnTime:
    status: OnTimeStatus
    minutes_late: int | None = None


def _day_of(text: str) -> Day:
    if match := _ISO_DATE.search(text):
        return Day(on=date(int(match.group(1)), int(match.group(2)), int(match.group(3))))
    if "tomorrow" in text:
        return Day(offset=1)
    for index, name in enumerate(_WEEKDAYS):
        if name in text or re.search(rf"\b{name[:3]}\b", text):
            return Day(weekday=index)
    return Day(offset=0)


def _clock(text: str, pm_hint: bool) -> tuple[int, bool] | None:
    """Minutes after midnight of a clock time in the text, and whether am/pm is undecided."""
    match = _CLOCK.search(text)
    if match is None:
        return None
    if match.group(1):
        hour, minute = int(match.group(1)) % 12, int(match.group(2) or 0)
        return (hour + (12 if match.group(3) == "p" else 0)) * 60 + minute, False
    hour, minute = int(match.group(4)), int(match.group(5))
    if hour > 23 or minute > 59:
        return None
    if hour == 0 or hour > 12 or match.group(4).startswith("0"):
        return hour * 60 + minute, False  # "14:30", "08:00": a 24-hour clock
    if hour == 12:
        return 12 * 60 + minute, False  # "12:45" is a quarter to one, not past midnight
    if pm_hint:
        return (hour + 12) * 60 + minute, False
    return hour * 60 + minute, True


def _part_of_day(text: str) -> tuple[int, int] | None:
    for name, start, end in _DAY_PARTS:
        if name in text:
            return start, end
    return None


def iso_moment(text: str) -> datetime | date | None:
    """An ISO 8601 date or date-time as a TMS sends it ("2026-11-30T10:00:00-06:00"), else None."""
    text = text.strip()
    if not _ISO_START.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.date() if len(text) == len("2026-11-30") else moment


def spoken_time(text: str) -> str:
    """An appointment as the agent says it: ISO 8601 read out ("Monday, November 30 at 10 AM",
    the wall time where the appointment is), anything else as written."""
    moment = iso_moment(text)
    if moment is None:
        return text
    day = f"{moment:%A}, {moment:%B} {moment.day}"
    if not isinstance(moment, datetime):
        return day
    clock = f"{moment.hour % 12 or 12}" + (f":{moment:%M}" if moment.minute else "")
    return f"{day} at {clock} {'AM' if moment.hour < 12 else 'PM'}"


@lru_cache(maxsize=1024)
def read_time(text: str) -> Span | None:
    """An appointment or ETA as a span on a day; None when it names no time at all."""
    moment = iso_moment(text)
    if isinstance(moment, datetime):
        minute = moment.hour * 60 + moment.minute
        return Span(Day(on=moment.date()), minute, minute)
    if moment is not None:
        return Span(Day(on=moment), 0, _DAY - 1)
    text = " ".join(text.lower().replace(".", "").split())
    if not text:
        return None
    day = _day_of(text)
    pm_hint = any(part in text for part in _PM_PARTS)
    if clock := _clock(text, pm_hint):
        minute, ambiguous = clock
        return Span(day, minute, minute, ambiguous_half=ambiguous)
    for name, minute in _NAMED.items():
        if name in text:
            return Span(day, minute, minute)
    if match := _BARE_HOUR.match(text):
        hour = int(match.group(1))
        if 1 <= hour <= 12:
            return Span(day, (hour % 12) * 60, (hour % 12) * 60, ambiguous_half=hour != 12)
    if part := _part_of_day(text):
        return Span(day, *part)
    if day != Day(offset=0):
        return Span(day, 0, _DAY - 1)  # "tomorrow", "friday": some time that day
    return None


def eta_merged(eta: str, older: str | None) -> str:
    """A newer ETA over an older one: a day alone ("saturday") dates the clock time said before
    ("4 pm" -> "saturday 4 pm") instead of dropping it; anything else replaces it."""
    new, before = read_time(eta), read_time(older) if older else None
    day_alone = new is not None and (new.start, new.end) == (0, _DAY - 1)
    clock_alone = before is not None and before.start == before.end and before.day == Day(offset=0)
    if day_alone and clock_alone and "today" not in (older or ""):
        return f"{eta} {older}"
    return eta


def _local_now(local_time: str | None) -> tuple[date | None, int] | None:
    """The call's local date (when given) and minute of the day."""
    if not local_time:
        return None
    try:
        moment = datetime.fromisoformat(local_time.strip())
        return moment.date(), moment.hour * 60 + moment.minute
    except ValueError:
        pass
    span = read_time(local_time)
    if span is None or span.start != span.end:
        return None
    return None, span.start


def _days_between(eta: Day, appointment: Day, today: date | None) -> int | None:
    """Days from the appointment's day to the ETA's day, None when they cannot be compared."""
    if today is not None:
        eta_date, appointment_date = _as_date(eta, today), _as_date(appointment, today)
        return (eta_date - appointment_date).days
    if eta.offset is not None and appointment.offset is not None:
        return eta.offset - appointment.offset
    if eta.weekday is not None and appointment.weekday is not None:
        return (eta.weekday - appointment.weekday + 3) % 7 - 3
    if eta.on is not None and appointment.on is not None:
        return (eta.on - appointment.on).days
    return None


def _as_date(day: Day, today: date) -> date:
    if day.on is not None:
        return day.on
    if day.weekday is not None:
        return today + timedelta(days=(day.weekday - today.weekday()) % 7)
    return today + timedelta(days=day.offset or 0)


def _relative_eta(eta: str, now: tuple[date | None, int] | None) -> Span | None:
    match = _RELATIVE.match(eta)
    if match is None or now is None:
        return None
    amount = float(match.group(1)) * (60 if match.group(2).startswith("hour") else 1)
    total = now[1] + round(amount)
    return Span(Day(offset=total // _DAY), total % _DAY, total % _DAY)


def _settle_half(eta: Span, appointment_minute: int, now_minute: int | None) -> Span:
    """6:00 is the first 6 o'clock after now, or without a clock the one nearest the appointment."""
    if not eta.ambiguous_half:
        return eta
    am, pm = eta.start, eta.start + 12 * 60
    if now_minute is not None:
        chosen = am if am >= now_minute - AT_RISK_SLACK_MINUTES else pm
    else:
        chosen = min((am, pm), key=lambda minute: abs(minute - appointment_minute))
    return Span(eta.day, chosen, chosen)


@lru_cache(maxsize=4096)
def on_time(
    appointment: str | None,
    eta: str | None,
    *,
    local_time: str | None = None,
    says_late: bool = False,
    delayed: bool = False,
    says_on_time: bool = False,
) -> OnTime | None:
    """The on-time risk of an ETA for an appointment; None without an appointment or comparison."""
    promised = read_time(appointment) if appointment else None
    if promised is None:
        return None
    now = _local_now(local_time)
    arrival = None
    if eta:
        arrival = _relative_eta(eta, now) or read_time(eta)
    if arrival is not None:
        days = _days_between(arrival.day, promised.day, now[0] if now else None)
        if days is not None:
            same_day_now = now[1] if now and days == 0 and arrival.day.offset == 0 else None
            arrival = _settle_half(arrival, promised.start, same_day_now)
            start, end = arrival.start + days * _DAY, arrival.end + days * _DAY
            # The latest the appointment allows: its time, or the end of its window or day.
            deadline = promised.end
            if end <= deadline - AT_RISK_SLACK_MINUTES:
                return OnTime(OnTimeStatus.ON_TIME)
            if start > deadline:
                late = start - deadline if start == end else None
                return OnTime(OnTimeStatus.LATE, late)
            return OnTime(OnTimeStatus.AT_RISK)
        if promised.day == Day(offset=0) and arrival.start > promised.end:
            # "saturday 4 pm" for "3 pm" today: whichever day today is, that is later.
            return OnTime(OnTimeStatus.LATE)
    if says_late:
        return OnTime(OnTimeStatus.LATE)
    if delayed:
        return OnTime(OnTimeStatus.AT_RISK)  # running behind, and no ETA to say by how much
    if says_on_time:
        return OnTime(OnTimeStatus.ON_TIME)
    return None
