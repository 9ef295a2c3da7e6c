"""Phone numbers a driver reads out ("555 123 4567", "it's 1-555-123-4567")."""

from __future__ import annotations

import re

_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_TOKEN = re.compile(r"\+?\d+|[a-z]+")
_MIN_DIGITS = 10  # a North American number; shorter runs are mile markers and door numbers


def phone_number(text: str) -> str | None:
    """The first phone number in `text`, as E.164 when it is a 10/11-digit NANP number.

    Digits may be spoken as words ("five five five...") or grouped with spaces, dots or dashes;
    anything shorter than ten digits is not a number a dispatcher can call back.
    """
    run = ""
    for token in _TOKEN.findall(text.lower().replace("-", " ").replace(".", " ")):
        if token.lstrip("+").isdigit():
            run += token.lstrip("+")
        elif token in _DIGIT_WORDS and (run or token not in ("o", "oh")):
            run += _DIGIT_WORDS[token]
        elif len(run) >= _MIN_DIGITS:
            break
        else:
            run = ""
    if len(run) < _MIN_DIGITS:
        return None
    if len(run) == 10:
        return "+1" + run
    if len(run) == 11 and run.startswith("1"):
        return "+" + run
    return "+" + run if len(run) <= 15 else None
