"""Sentiment of what a truck driver says, on VADER fitted to dispatch calls.

VADER's general-purpose lexicon misreads driver speech: "no issues" scores -0.30 (it knows "no"
as a negative word and not "issues"), "someone tried to break into my trailer" scores 0 (no
word of it is in the lexicon), and "yeah", "okay", "like" count as praise. Two fixes, both in the
lexicon so VADER's own rules (negation, boosters, "but") still apply:

- Driver words: problems of the road are negative ("late", "detention", "wreck", "overheating"),
  good news is positive ("delivered", "on time", "early"); answer words ("no", "yeah", "okay")
  and fillers ("like", "well") are neutral. Adding the plural forms lets VADER's negation turn
  "no issues", "no delays", "no hold ups" into good news.
- Clauses are scored one by one: VADER's negation reaches three words back across commas, so
  "no accidents, no weather, easy drive" read "easy" as negated. A turn scores the mean of its
  clauses that are not neutral.
- Phrases that mean one thing ("break into", "blew a tire", "broke down", "on schedule",
  "not feeling well") become one lexicon token before scoring.

Checked against a labelled set of driver utterances in tests/agent/driver_sentiment.csv.
"""

from __future__ import annotations

import re

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

NEUTRAL_BAND = 0.05  # VADER's own threshold: |compound| below it is neutral

# Token -> valence on VADER's -4..+4 scale.
DRIVER_LEXICON: dict[str, float] = {
    # answer words and fillers: neither good nor bad news on a check-in call
    "no": 0.0,
    "yeah": 0.0,
    "yes": 0.0,
    "yep": 0.0,
    "ok": 0.0,
    "okay": 0.0,
    "like": 0.0,
    "number": 0.0,
    "help": 0.0,
    "well": 0.0,
    # problems of the road, the dock and the truck
    "issue": -1.2,
    "issues": -1.2,
    "problem": -1.7,
    "problems": -1.7,
    "delay": -1.3,
    "delays": -1.3,
    "late": -1.5,
    "traffic": -0.8,
    "congestion": -1.2,
    "construction": -0.8,
    "detour": -0.8,
    "detention": -1.8,
    "waiting": -0.8,
    "backup": -1.2,
    "backups": -1.2,
    "backed": -1.0,
    "stranded": -2.5,
    "makingmewait": -1.2,
    "closed": -1.0,
    "closure": -1.2,
    "breakdown": -2.5,
    "breakdowns": -2.5,
    "accidents": -2.1,
    "wrecks": -2.5,
    "wreck": -2.5,
    "collision": -2.5,
    "sideswiped": -2.5,
    "jackknifed": -3.0,
    "rollover": -3.0,
    "flat": -1.2,
    "blowout": -2.2,
    "tow": -1.5,
    "towed": -1.5,
    "overheating": -2.2,
    "leaking": -2.0,
    "leak": -2.0,
    "smoke": -2.0,
    "shifted": -1.0,
    "quit": -1.5,
    "snow": -0.8,
    "ice": -1.0,
    "icy": -1.5,
    "fog": -0.6,
    "ticket": -1.2,
    "overweight": -1.0,
    "inspection": -0.4,
    "breakin": -3.0,
    "brokedown": -2.5,
    "behindschedule": -1.5,
    "pullover": -1.0,
    "holdup": -1.2,
    "holdups": -1.2,
    "malfunctioning": -1.8,
    "takingforever": -1.5,
    "unwell": -1.8,
    "blocked": -1.5,
    "noshow": -1.5,
    "needhelp": -2.0,
    "onfire": -3.0,
    # good news
    "ontime": 1.8,
    "aheadofschedule": 2.0,
    "early": 1.2,
    "ahead": 0.8,
    "delivered": 1.5,
    "unloaded": 1.2,
    "unloading": 0.6,
    "signed": 0.8,
    "smooth": 1.5,
    "smoothly": 1.5,
    "quick": 0.8,
    "quickly": 0.8,
    "gotrightin": 1.2,
    "cruising": 1.0,
    "rolling": 0.5,
}

# Phrases that carry one meaning, rewritten to one token of DRIVER_LEXICON (order matters).
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), token)
    for pattern, token in (
        (r"\bbr(?:eak|oke|oken|eaking)[ -]?in(?:to|s)?\b", "breakin"),
        (r"\b(?:blew|blown|blow)\s+(?:out\s+)?(?:a\s+|the\s+|my\s+|our\s+)?tires?\b", "blowout"),
        (r"\bbr(?:eak|oke|oken|eaking)\s+down\b", "brokedown"),
        (r"\bon\s+(?:time|schedule|track)\b", "ontime"),
        (r"\bahead\s+of\s+schedule\b", "aheadofschedule"),
        (r"\bbehind\s+schedule\b", "behindschedule"),
        (r"\b(?:running|way|fallen|falling|hours?|bit|little)\s+behind\b", "behindschedule"),
        (r"\bpull(?:ed|ing)?\s+over\b", "pullover"),
        (r"\bhold[\s-]?ups?\b", "holdup"),
        (r"\bhit\s+(?:a|the)\s+(?:deer|car|pole|guardrail|wall|truck)\b", "collision"),
        (r"\bacting\s+up\b", "malfunctioning"),
        (r"\btaking\s+forever\b", "takingforever"),
        (r"\bnot\s+feeling\s+(?:well|good|right)\b", "unwell"),
        (
            r"\b(?:can'?t|cannot|won'?t|couldn'?t)\s+(?:make|unload|get|find|start|reach|move)\b",
            "blocked",
        ),
        (r"\b(?:didn'?t|did\s+not|never)\s+show(?:\s+up)?\b|\bno[\s-]show\b", "noshow"),
        (r"\bneed(?:s|ed)?\s+(?:some\s+)?help\b", "needhelp"),
        (r"\bon\s+fire\b", "onfire"),
        (r"\bgot\s+right\s+in\b", "gotrightin"),
        (r"\brolled\s+over\b", "rollover"),
        (r"\b(?:making|made|make|have|had|got)\s+(?:me\s+|us\s+)?(?:to\s+)?wait\b", "makingmewait"),
    )
)


_CLAUSE_BREAK = re.compile(r"[,.;:!?]+(?:\s|$)|\s+-+\s+")


class DriverSentiment:
    """VADER with the driver lexicon; read-only after construction (safe across threads)."""

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()
        self._vader.lexicon.update(DRIVER_LEXICON)

    def score(self, utterance: str) -> float:
        """Compound score in [-1, 1]; |score| < NEUTRAL_BAND is neutral."""
        text = utterance
        for pattern, token in _PHRASES:
            text = pattern.sub(token, text)
        scores = [
            self._vader.polarity_scores(clause)["compound"]
            for clause in _CLAUSE_BREAK.split(text)
            if clause.strip()
        ]
        telling = [score for score in scores if abs(score) >= NEUTRAL_BAND]
        return round(sum(telling) / len(telling), 4) if telling else 0.0
