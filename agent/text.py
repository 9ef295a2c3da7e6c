"""Speech-to-text cleanup: one normalized form that every extractor reads.

Drivers' words arrive lowercase or not, with or without punctuation, with fillers and numbers
spoken as words. `normalize` returns lowercase text with single spaces, fillers removed and
spoken numbers turned into digits ("forty five" -> "45", "i forty" -> "i 40",
"four thirty pm" -> "4:30 pm", "two eighty seven" after a road word -> "287").
"""

from __future__ import annotations

import re
from collections.abc import Iterator

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
_SPOKEN_ZERO = frozenset({"oh", "o"})
# A lone "one" is mostly a pronoun ("no one's hurt", "the one on the left").
_ONE_PRONOUN_BEFORE = frozenset({"no", "any", "every", "some", "the", "this", "that", "which"})

_FILLER_WORD = re.compile(r"u+h+|u+m+|h*m{2,}|e+r+m*|a+h+|m+h+m+")
_FILLER_PHRASES = re.compile(r"\b(?:you know|i mean|like i said)\b")
_CORRECTING_I_MEAN = re.compile(
    r"(?<=\w)\W+i mean\b(?=\W+(?:by|near|in|at|outside|past|it'?s|more))"
)
_SPOKEN_YES = re.compile(r"\b(?:uh huh|m+ ?h+m+)\b")
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
        if run[0] in _SCALES:
            run = ["one", *run]  # "a hundred twenty": word2number reads "hundred twenty" as 2000
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
    if not road_context and len(groups) == 3 and 1 <= groups[0] <= 12 and groups[1] == 0:
        return f"{groups[0]}:0{groups[2]}"  # "ten oh five" -> 10:05
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
            or (  # "exit one oh four": a spoken zero inside a number
                words[j] in _SPOKEN_ZERO and j > i and j + 1 < len(words) and words[j + 1] in _UNITS
            )
            or (
                words[j] == "and"
                and j + 1 < len(words)
                and words[j + 1] in _NUMBER_WORDS
                and j > i
                and words[j - 1] in _SCALES
            )
        ):
            j += 1
        run = ["zero" if w in _SPOKEN_ZERO else w for w in words[i:j] if w != "and"]
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
    lowered = text.lower()
    if "[" in lowered or "(" in lowered or "<" in lowered:
        lowered = _BRACKETED.sub(" ", lowered)
    lowered = lowered.replace("’", "'").replace("-", " ")
    if "." in lowered:
        lowered = lowered.replace("p.m.", "pm").replace("a.m.", "am").replace("t.a.", "ta")
    lowered = _PUNCTUATION.sub(" ", lowered)
    if ":" in lowered:
        lowered = _COLON_NOT_TIME.sub(" ", lowered)
    if " m" in lowered:
        lowered = _P_M.sub(r"\1m", lowered)
    if "uh huh" in lowered or "mhm" in lowered or "mm hmm" in lowered:
        lowered = _SPOKEN_YES.sub("yeah", lowered)  # a yes, not a filler: "uh huh" alone answers
    if "i mean" in lowered:
        # "by clovis, i mean by vega": a correction mid-sentence; a leading "i mean" is filler
        lowered = _CORRECTING_I_MEAN.sub(" actually ", lowered)
    if "you know" in lowered or "i mean" in lowered or "like i" in lowered:
        lowered = _FILLER_PHRASES.sub(" ", lowered)
    lowered = lowered.replace("o'clock", "oclock")
    words = [
        w
        for w in lowered.split()
        if not (w[0] in "uhmea" and len(w) <= 6 and _FILLER_WORD.fullmatch(w))
    ]
    words = [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]  # "i i" stutter
    return " ".join(_numbers_to_digits(words)) if words else ""


def is_garbled(text: str, normalized: str | None = None) -> bool:
    """An utterance that carries nothing: "[inaudible]", "...", a tag and a stray word or two."""
    words = (normalize(text) if normalized is None else normalized).split()
    return not words or (bool(_BRACKETED.search(text)) and len(words) <= 3)


_PREFIX_MAX = 5  # longer anchor words are cut to this many letters
_ESCAPES = re.compile(r"\\[a-zA-Z]|[a-z][?*]")  # escapes, and letters that may be absent
_LITERAL_RUNS = re.compile(r"[a-z]{2,}")
# Words too common to gate on; a pattern keeps them only if it has no other words.
_COMMON_WORDS = frozenset(
    {"the", "an", "at", "in", "on", "to", "of", "my", "is", "it", "me", "be", "we", "re", "so"}
    | {"and", "or", "for", "up", "by", "is", "are", "was", "got", "get", "just", "i'm", "you"}
)
# Word start -> bit mask of the gated patterns that need it. Filled while the agent's modules
# define their patterns at import, read-only afterwards.
_PATTERNS_BY_WORD: dict[str, int] = {}
_GATED_COUNT = [0]


class Utterance(str):
    """Normalized text that knows which gated patterns could match it at all.

    Its words' starts (2 to 5 letters) are looked up once in the index of pattern words; a
    gated pattern whose bit is not in `mask` cannot match, so its regex scan is skipped.
    """

    mask: int
    covered: int  # bits of the patterns indexed when this utterance was made

    def __new__(cls, text: str) -> Utterance:
        made = super().__new__(cls, text)
        mask = 0
        get = _PATTERNS_BY_WORD.get
        for w in text.split():  # the starts of each word, 2 to _PREFIX_MAX letters
            mask |= get(w[:2], 0) | get(w[:3], 0) | get(w[:4], 0) | get(w[:5], 0)
        made.mask, made.covered = mask, 1 << _GATED_COUNT[0]
        return made


class GatedPattern:
    """A compiled regex plus the word starts one of which any match must contain.

    Sound as long as every alternative of the pattern contains a literal word of two letters or
    more that starts a word of the text (true of the word-list patterns used in `agent`; the
    test suite checks gated and plain searches agree). Plain strings are searched ungated.
    """

    __slots__ = ("anchors", "bit", "pattern")

    def __init__(self, source: str) -> None:
        self.pattern = re.compile(source)
        runs = set(_LITERAL_RUNS.findall(_ESCAPES.sub(" ", source)))
        self.anchors = frozenset(run[:_PREFIX_MAX] for run in (runs - _COMMON_WORDS or runs))
        self.bit = 1 << _GATED_COUNT[0]
        _GATED_COUNT[0] += 1
        for anchor in self.anchors:
            _PATTERNS_BY_WORD[anchor] = _PATTERNS_BY_WORD.get(anchor, 0) | self.bit

    def could_match(self, text: str) -> bool:
        mask = getattr(text, "mask", None)
        return mask is None or mask & self.bit != 0 or not self.anchors or self.bit >= text.covered

    def search(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(text) if self.could_match(text) else None

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.pattern.finditer(text) if self.could_match(text) else iter(())


def words_of(*patterns: GatedPattern | re.Pattern[str]) -> int | None:
    """The bits of several gated patterns, to skip a whole family at once; None: no gate."""
    bits = 0
    for pattern in patterns:
        if not isinstance(pattern, GatedPattern) or not pattern.anchors:
            return None
        bits |= pattern.bit
    return bits


def mentions(bits: int | None, text: str) -> bool:
    """False only when the utterance cannot match any pattern of the family."""
    mask = getattr(text, "mask", None)
    return bits is None or mask is None or mask & bits != 0 or bits >= text.covered


def utterance(text: str) -> Utterance:
    return Utterance(normalize(text))
