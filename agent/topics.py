"""What the agent last asked, read back from its own words in the transcript.

A driver's "yeah" or "95" only means something next to the question it answers. The question is
recovered from the agent's last turn text (the rules policy's phrasings, and the usual phrasings
an LLM policy produces), so the state stays a function of the transcript alone.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache

from agent.text import GatedPattern, Utterance


class Topic(StrEnum):
    NONE = "none"
    STATUS = "status"
    LOCATION = "location"
    ETA = "eta"
    DELAY_REASON = "delay_reason"
    UNLOADING = "unloading"
    POD = "pod"
    SAFETY = "safety"
    INJURY = "injury"
    LOAD_SECURE = "load_secure"
    CALLBACK = "callback"  # the number the office should call the driver back on
    REPEAT = "repeat"
    CONFIRM = "confirm"  # "I have Tulsa, is that right?": a fact heard, not asked from scratch


# Checked in order: the first pattern found in the agent's question wins.
_TOPIC_PATTERNS: tuple[tuple[Topic, GatedPattern], ...] = tuple(
    (topic, GatedPattern(pattern))
    for topic, pattern in (
        (Topic.CONFIRM, r"\bis that right\b|\bdid i (?:get|hear) that right\b"),
        (Topic.CALLBACK, r"call you back|callback number|reach you (?:at|on)"),
        (Topic.POD, r"\bpod\b|proof of delivery|signed paperwork|bills? of lading"),
        (Topic.LOAD_SECURE, r"\b(?:load|trailer|cargo|freight)\b.*\bsecure|\bsecured?\b"),
        (Topic.INJURY, r"\bhurt\b|\binjur|\bneed an ambulance|medical attention"),
        (Topic.SAFETY, r"\bsafe\b|\bsafely\b|out of traffic"),
        (
            Topic.REPEAT,
            r"say (?:that|it) again|didn'?t (?:catch|hear|get) that|repeat that|cut out",
        ),
        (Topic.UNLOADING, r"\bdoor\b|\bunload|\blumper\b|\bdock\b"),
        (
            Topic.DELAY_REASON,
            r"holding you up|what'?s causing|reason for|caused the delay|"
            r"what happened|slowing you down|why (?:are|is) (?:you|it)",
        ),
        (
            Topic.ETA,
            r"\beta\b|what time|when (?:do|will|would|can) you|get there|arrive|arrival|"
            r"how (?:long|far) (?:until|till|out|away)",
        ),
        (
            Topic.LOCATION,
            r"\bwhere\b|\blocation\b|\bhighway\b|nearest (?:city|town|exit)|"
            r"mile marker|which (?:road|interstate)",
        ),
        (
            Topic.STATUS,
            r"\bstatus\b|\bupdate\b|\bdriving\b|how(?:'s| is) it going|"
            r"how are things|on the road",
        ),
    )
)
_QUESTION = re.compile(r"[^.?!]*\?")
_NOT_WORD = re.compile(r"[^\w' ]+")


@lru_cache(maxsize=8192)
def asked_topic(agent_text: str) -> Topic:
    """The topic of the agent's last question in this turn, NONE when it asked nothing."""
    questions = _QUESTION.findall(agent_text.lower())
    if not questions:
        return Topic.NONE
    question = Utterance(_NOT_WORD.sub(" ", questions[-1]))
    for topic, pattern in _TOPIC_PATTERNS:
        if pattern.search(question):
            return topic
    return Topic.NONE
