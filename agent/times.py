"""When a driver says they will arrive: "4 pm", "14:30", "noon", "tomorrow morning", "in 2 hours".

Reads text already passed through `agent.text.normalize` (numbers are digits there).
"""

from __future__ import annotations

import re

from agent.text import GatedPattern

_DIGIT = re.compile(r"\d")
_UNIT_AHEAD = r"(?!\s*(?:miles?|mph|minutes?|mins?|hours?|hrs?|percent|dollars|bucks|\d))"
_CLOCK_AMPM = re.compile(r"\b(1[0-2]|0?[1-9])(?::([0-5]\d))?\s?(am|pm)\b")
_CLOCK_COLON = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b(?!\s?[ap]m)")
_SPACED_CLOCK = re.compile(
    r"\b(1[0-2]|0?[1-9]) ([0-5]\d)\b(?!\s*(?:miles?|mph|minutes?|mins?|hours?|hrs?|\d))"
    r"(?:\s?(am|pm)\b)?"
)
# "fourteen hundred" (normalized to 1400), "0930 hours": a 24-hour clock read aloud
_MILITARY = re.compile(
    r"^(?:at |by |around |about |like |maybe )?([01]\d|2[0-3])([0-5]\d)(?: hours)?$"
)
_OCLOCK = GatedPattern(r"\b(1[0-2]|[1-9]) oclock\b")
_CUED_HOUR = re.compile(
    r"\b(?:by|around|about|before|til|till|until|at|like|roughly|maybe|say|probably|"
    r"make (?:that|it)|change (?:that|it) to|more like)\s(1[0-2]|[1-9])\b" + _UNIT_AHEAD
)
# "7 tonight", "6 this evening": the hour a part of the day follows is the arrival hour
_HOUR_THEN_DAY_PART = re.compile(
    r"\b(1[0-2]|[1-9]) (?=tonight|this (?:morning|afternoon|evening)|tomorrow|in the (?:morning|"
    r"afternoon|evening))"
)
_NAMED_TIME = GatedPattern(r"\b(noon|midnight|midday|lunch ?time|end of (?:the )?day)\b")
_DAY_PART = GatedPattern(
    r"\b(tomorrow(?: morning| afternoon| evening| night)?|tonight"
    r"|this (?:morning|afternoon|evening)|later (?:today|tonight|this afternoon)"
    r"|first thing (?:tomorrow )?(?:morning)?|in the morning"
    r"|this time tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
)
_RELATIVE = re.compile(
    r"\b(?:in|about|like|around|roughly|another|maybe|within|under|less than|over)\s"
    r"(?:about |like |around |roughly |maybe |another |an? |a good |just |only )*"
    r"(\d+(?:\.\d+)?|an?|half an?|a couple(?: of)?|couple(?: of)?|a few|few)\s?"
    r"(hours?|hrs?|minutes?|mins?)\b( and a half)?"
)
_OUT_AWAY = re.compile(
    r"\b(\d+(?:\.\d+)?|an?|half an?|a couple(?: of)?|couple(?: of)?)\s?(hours?|hrs?|minutes?|mins?)"
    r"( and a half)? (?:out|away|left|to go|from (?:here|there|the receiver|delivery))\b"
)
_BARE_DURATION = re.compile(
    r"(?<!waiting )(?<!waited )(?<!been )(?<!for )"
    r"\b(?:(\d+(?:\.\d+)?|an?|half an?|a couple(?: of)?|couple(?: of)?)\s?)?"
    r"(hours?|hrs?|minutes?|mins?)\b( and a half)?"
)
_ON_TIME = GatedPattern(
    r"\b(?:on time|make (?:my|the|our) (?:appointment|appt)|right on schedule|on schedule)\b"
)

# "1030 am", "930 tonight": a clock the speech-to-text wrote without its colon, known as one by
# what follows it (a bare "1030" is a 24-hour clock or a number, read by _MILITARY alone)
_CLOCK_WITHOUT_COLON = re.compile(
    r"\b(1[0-2]|0?[1-9])([0-5]\d)(?=\s?(?:am|pm)\b|\s(?:tonight|tomorrow|this (?:morning|"
    r"afternoon|evening)|in the (?:morning|afternoon|evening)))"
)
_HALF_OF_DAY = re.compile(r"\bin the (?:morning|afternoon|evening)\b|\bat night\b")
_N_AND_A_HALF = re.compile(r"\b(\d+) and a half (hours?|hrs?)\b")

_AMOUNTS = {"a": 1.0, "an": 1.0, "half a": 0.5, "half an": 0.5, "a few": 3.0, "few": 3.0}


def _amount(word: str | None) -> float:
    if word is None:
        return 1.0  # "hour and a half"
    if word in _AMOUNTS:
        return _AMOUNTS[word]
    if "couple" in word:
        return 2.0
    return float(word)


def _relative(amount_word: str | None, unit: str, and_a_half: str | None) -> str:
    amount = _amount(amount_word) + (0.5 if and_a_half else 0.0)
    if unit.startswith(("hour", "hr")):
        if amount < 1:
            return f"in {round(amount * 60)} minutes"
        shown = f"{amount:g}"
        return f"in {shown} hour" if amount == 1 else f"in {shown} hours"
    return f"in {amount:g} minutes"


def find_eta(text: str, *, expecting_eta: bool = False) -> str | None:
    """The arrival time a driver states, normalized; None when there is none."""
    if not text:
        return None
    if " and a half " in text:
        text = _N_AND_A_HALF.sub(r"\1.5 \2", text)  # "2 and a half hours" -> "2.5 hours"
    text = _CLOCK_WITHOUT_COLON.sub(r"\1:\2", text)  # "1030 am" -> "10:30 am"
    day_part = _DAY_PART.search(text)
    day = f" {day_part.group(1)}" if day_part else ""
    has_digits = _DIGIT.search(text) is not None
    if has_digits and (match := _CLOCK_AMPM.search(text)):
        minutes = f":{match.group(2)}" if match.group(2) and match.group(2) != "00" else ""
        return f"{int(match.group(1))}{minutes} {match.group(3)}" + day
    if (
        has_digits
        and (match := _SPACED_CLOCK.search(text))
        and (expecting_eta or _CUED_HOUR.search(text))
    ):
        am_pm = f" {match.group(3)}" if match.group(3) else ""
        return f"{int(match.group(1))}:{match.group(2)}{am_pm}" + day  # "about 4 30" from STT
    if has_digits and expecting_eta and (match := _MILITARY.match(text)):
        return f"{match.group(1)}:{match.group(2)}"
    if has_digits and (match := _CLOCK_COLON.search(text)):
        return f"{int(match.group(1))}:{match.group(2)}" + day
    if has_digits and (match := _OCLOCK.search(text)):
        return f"{match.group(1)}:00" + day
    if match := _NAMED_TIME.search(text):
        named = match.group(1).replace("lunch time", "lunchtime").replace("midday", "noon")
        return named + day
    has_unit = "hour" in text or "hr" in text or "min" in text  # all durations need one
    for pattern in (_RELATIVE, _OUT_AWAY) if has_unit else ():
        if (match := pattern.search(text)) and (
            pattern is _OUT_AWAY or expecting_eta or _looks_like_arrival(text)
        ):
            return _relative(match.group(1), match.group(2), match.group(3))
    if has_unit and expecting_eta and (match := _BARE_DURATION.search(text)):
        return _relative(match.group(1), match.group(2), match.group(3))
    if has_digits and (half := _HALF_OF_DAY.search(text)) and (match := _CUED_HOUR.search(text)):
        am_pm = "am" if half.group(0) == "in the morning" else "pm"
        return f"{match.group(1)} {am_pm}"  # "around two in the afternoon" -> "2 pm"
    if day_part:
        ahead = not day_part.group(1).startswith(("this ", "in the "))  # "tomorrow", "tonight"
        if has_digits and (
            (match := _HOUR_THEN_DAY_PART.search(text))
            or (
                (match := _CUED_HOUR.search(text))
                and (expecting_eta or ahead or _looks_like_arrival(text))
            )
        ):
            return f"{match.group(1)}:00{day}"
        # "held me this morning" is the past; "tomorrow morning" is an arrival time.
        if expecting_eta or _looks_like_arrival(text) or not day_part.group(1).startswith("this "):
            return day_part.group(1)
    if (
        has_digits
        and (match := _CUED_HOUR.search(text))
        and (expecting_eta or _looks_like_arrival(text))
    ):
        return f"{match.group(1)}:00"
    if _ON_TIME.search(text):
        return "on time for the appointment"
    return None


# Not word-gated: "get in" is made only of words too common to gate on.
_ARRIVAL_WORDS = re.compile(
    r"\b(?:there|arrive|arriving|get in|getting in|roll in|rolling in|deliver|delivering|eta|be at|"
    r"make it|make that|more like|change (?:that|it) to|pull in|roll|out|away|hit)\b"
)


def _looks_like_arrival(text: str) -> bool:
    return bool(_ARRIVAL_WORDS.search(text))
