"""Call analytics from a transcript: keyword hits, sentiment, turns, interruptions, tokens.

- keyword hits: occurrences in the driver's turns, matched at word starts so "delay" also counts
  "delayed" and "tire" counts "tires" (case-insensitive).
- sentiment: the mean score of the driver's non-empty turns, in [-1, 1], from VADER fitted to
  driver speech (`agent.sentiment`: "no issues" is good news, a trailer break-in is not).
- interruptions: Retell's word timings are not in `Turn`, so this is estimated from text: a driver
  turn right after an agent turn that opens with a barge-in phrase ("wait", "hold on", "sorry"...),
  or that follows an agent turn cut off mid-sentence (no closing punctuation, or a trailing dash or
  ellipsis). At most one interruption per agent turn.
- tokens: about four characters per token (OpenAI's rule of thumb for English) over all turns,
  plus one per turn for the role marker.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from agent.sentiment import DriverSentiment
from agent.types import Analysis, Turn

DEFAULT_KEYWORDS: tuple[str, ...] = (
    "traffic",
    "accident",
    "breakdown",
    "weather",
    "detention",
    "lumper",
    "delay",
    "construction",
    "injury",
    "police",
    "tire",
    "fuel",
    "inspection",
    "appointment",
)
CHARS_PER_TOKEN = 4

_SENTIMENT = DriverSentiment()  # read-only after construction: it holds the lexicon
_BARGE_IN = re.compile(
    r"^\W*(?:wait|hold on|hang on|sorry|excuse me|no no|hey hey|stop|actually|um wait|uh wait|"
    r"let me stop you|one sec|one second)\b",
    re.IGNORECASE,
)
_CUT_OFF = re.compile(r"(?:[^.?!\"')\]]|--|—|\.\.\.|…)\s*$")


def _keyword_hits(user_text: str, keywords: Sequence[str]) -> dict[str, int]:
    hits: dict[str, int] = {}
    for keyword in keywords:
        word = keyword.strip().lower()
        if word:
            hits[word] = len(re.findall(r"\b" + re.escape(word) + r"\w*", user_text))
    return hits


def _interruptions(transcript: Sequence[Turn]) -> int:
    count = 0
    for before, after in zip(transcript, transcript[1:], strict=False):
        if before.role != "agent" or after.role != "user":
            continue
        cut_off = bool(before.content.strip()) and bool(_CUT_OFF.search(before.content.strip()))
        if cut_off or _BARGE_IN.search(after.content):
            count += 1
    return count


def analyze(transcript: Sequence[Turn], keywords: Sequence[str] = DEFAULT_KEYWORDS) -> Analysis:
    user_turns = [t.content for t in transcript if t.role == "user"]
    scores = [_SENTIMENT.score(text) for text in user_turns if text.strip()]
    sentiment = sum(scores) / len(scores) if scores else 0.0
    characters = sum(len(t.content) for t in transcript)
    return Analysis(
        keyword_hits=_keyword_hits(" ".join(user_turns).lower(), keywords),
        sentiment=round(max(-1.0, min(1.0, sentiment)), 4),
        user_turns=len(user_turns),
        agent_turns=len(transcript) - len(user_turns),
        interruptions_est=_interruptions(transcript),
        tokens_estimated=math.ceil(characters / CHARS_PER_TOKEN) + len(transcript),
    )
