"""Speech-to-text cleanup: one normalized form that every extractor reads.

Drivers' words arrive lowercase or not, with or without punctuation, with fillers and numbers
spoken as words. `normalize` returns lowercase text with single spaces, fillers removed and
spoken numbers turned into digits ("forty five" -> "45", "i forty" -> "i 40",
"four thirty pm" -> "4:30 pm", "two eighty seven" after a road word -> "287").
"""

from __future__ import annotations

import re

from word2number import w2n

_NUMBER_WORDS = frozenset(k for k in w2n.american_number_system if k not in {"point"})
_UNITS = {k: v for k, v in w2n.american_number_system.items() if isinstance(v, int) and v < 10}
_TEENS = {
    k: v for k, v in w2n.american_number_system.items() if isinstance(v, int) and 10 <= v < 20
}
_TENS = {
    k: v
    for k, v in w2n.american_number_system.items()
    if isinstance(v, int) and 20 <= v < 100 and v % 10 == 0
}
_SCALES = frozenset({"hundred", "thousand", "million", "billion"})

# Words after which a spoken number is an identifier read digit-group by digit-group
# ("i two eighty seven" is I-287, "exit one twenty" is exit 120), not a clock time.
_ROAD_WORDS = frozenset(
    {"i", "interstate", "highway", "hwy", "route", "rt", "us", "exit", "marker", "post", "door"}
    | {"dock", "number", "sr", "mile", "milepost", "mm", "load", "bay", "i's"}
)
_UNIT_AFTER = frozenset(
    {"hour", "hours", "minute", "minutes", "mins", "min", "mile", "miles", "am", "pm", "oclock"}
)
# A lone "one" is mostly a pronoun ("no one's hurt", "the one on the left").
_ONE_PRONOUN_BEFORE = frozenset({"no", "any", "every", "some", "the", "this", "that", "which"})

_FILLERS = re.compile(r"\b(?:u+h+|u+m+|h*m{2,}|e+r+m*|a+h+|uh huh|you know|i mean|like i said)\b")
_PUNCTUATION = re.compile(r"[^\w\s:'/]")
_COLON_NOT_TIME = re.compile(r"(?<!\d):|:(?!\d)")
_SPACES = re.compile(r"\s+")
_P_M = re.compile(r"\b([ap]) m\b")
_BRACKETED = re.compile(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>")


def _chunks(run: list[str]) -> list[int]:
    """Split a run of number words into spoken groups: "two eighty seven" -> [2, 87]."""
    groups: list[int] = []
    i = 0
    while i < len(run):
        word = run[i]
        if word in _TENS:
            value = _TENS[word]
            if i + 1 < len(run) and run[i + 1] in _UNITS and run[i + 1] != "zero":
                value += _UNITS[run[i + 1]]
                i += 1
            groups.append(value)
        elif word in _TEENS:
            groups.append(_TEENS[word])
        else:
            groups.append(_UNITS.get(word, 0))
        i += 1
    return groups


def _run_to_digits(run: list[str], before: str | None, after: str | None) -> str:
    if any(w in _SCALES for w in run):
        try:
            return str(w2n.word_to_num(" ".join(run)))
        except ValueError:
            return " ".join(run)
    groups = _chunks(run)
    if len(groups) == 1:
        return str(groups[0])
    road_context = before in _ROAD_WORDS
    if not road_context and len(groups) == 2 and 1 <= groups[0] <= 12 and 10 <= groups[1] <= 59:
        return f"{groups[0]}:{groups[1]:02d}"  # "four thirty" -> 4:30
    return "".join(str(g) for g in groups)


def _numbers_to_digits(words: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        if words[i] not in _NUMBER_WORDS:
            out.append(words[i])
            i += 1
            continue
        j = i
        while j < len(words) and (
            words[j] in _NUMBER_WORDS
            or (
                words[j] == "and"
                and j + 1 < len(words)
                and words[j + 1] in _NUMBER_WORDS
                and j > i
                and words[j - 1] in _SCALES
            )
        ):
            j += 1
        run = [w for w in words[i:j] if w != "and"]
        before = out[-1] if out else None
        after = words[j] if j < len(words) else None
        lone_pronoun = run == ["one"] and (
            before in _ONE_PRONOUN_BEFORE
            or (after not in _UNIT_AFTER and before not in _ROAD_WORDS)
        )
        if lone_pronoun:
            out.append("one")
        else:
            out.append(_run_to_digits(run, before, after))
        i = j
    return out


def normalize(text: str) -> str:
    """Lowercase, punctuation-free, filler-free text with spoken numbers as digits."""
    lowered = _BRACKETED.sub(" ", text.lower()).replace("’", "'").replace("-", " ")
    lowered = lowered.replace("p.m.", "pm").replace("a.m.", "am")
    lowered = _COLON_NOT_TIME.sub(" ", _PUNCTUATION.sub(" ", lowered))
    lowered = _P_M.sub(r"\1m", lowered)
    lowered = _FILLERS.sub(" ", lowered)
    lowered = lowered.replace("o'clock", "oclock")
    words = _SPACES.sub(" ", lowered).strip().split(" ")
    words = [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]  # "i i" stutter
    return " ".join(_numbers_to_digits(words)) if words != [""] else ""


def is_garbled(text: str) -> bool:
    """An utterance that carries nothing: "[inaudible]", "...", a tag and a stray word or two."""
    words = normalize(text).split()
    return not words or (bool(_BRACKETED.search(text)) and len(words) <= 3)
