"""Replays every scripted conversation in tests/agent/conversations/ against the rules agent.

Each script gives the driver's turns (the string "(silence)" stands for Retell's
reminder_required: the driver said nothing). The runner plays Retell: it sends the opening,
then each driver turn in order, appending the agent's actual replies to the transcript, and
stops when the agent ends or transfers the call (a script with `keeps_talking = true` goes on
after the transfer: the driver talks while the dispatcher's line rings). It then checks what the
agent did (ended, transferred), what it said, and the full structured result: fields a script
does not list must be null.

`given` names the driver turn (1 = the first) at which each fact of the result was said. Over
the whole set, no agent question may ask for a fact given before it. Scripts written before
`given` existed have it derived: the first turn after which the result holds the expected value.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pytest

from agent import (
    CallContext,
    CallResult,
    Reply,
    Turn,
    extract_result,
    next_reply,
    opening,
    reminder_reply,
)

CONVERSATIONS = Path(__file__).parent / "conversations"
SILENCE = "(silence)"
RESULT_FIELDS = tuple(f.name for f in fields(CallResult))


# The classes of issue 15, one file each, at least MIN_PER_CLASS conversations in each.
LISTENING_CLASSES = (
    "reasking",
    "out_of_turn",
    "after_handoff",
    "fixed_problems",
    "corrections",
    "stt_noise",
    "lateness",
)
MIN_PER_CLASS = 10


@dataclass
class Script:
    name: str
    kind: str  # the file's stem
    context: CallContext
    user: list[str]
    expect: dict[str, Any]
    given: dict[str, int] = field(default_factory=dict)
    keeps_talking: bool = False


@dataclass
class Played:
    transcript: list[Turn] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    unplayed: list[str] = field(default_factory=list)
    transferred: bool = False
    # (driver turn number the reply follows, the reply), 0 for the opening
    reply_after: list[tuple[int, Reply]] = field(default_factory=list)

    @property
    def last(self) -> Reply:
        return self.replies[-1]

    @property
    def agent_text(self) -> str:
        return " ".join(r.text for r in self.replies)


def load_scripts() -> list[Script]:
    scripts: list[Script] = []
    for path in sorted(CONVERSATIONS.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        defaults = data.get("context", {})
        for item in data["conversation"]:
            context = {**defaults, **item.get("context", {})}
            scripts.append(
                Script(
                    name=f"{path.stem}: {item['name']}",
                    kind=path.stem,
                    context=CallContext(**context),
                    user=list(item["user"]),
                    expect=item["expect"],
                    given=dict(item.get("given", {})),
                    keeps_talking=bool(item.get("keeps_talking", False)),
                )
            )
    return scripts


def play(script: Script) -> Played:
    played = Played()
    first = opening(script.context)
    played.replies.append(first)
    played.reply_after.append((0, first))
    played.transcript.append(Turn("agent", first.text))
    silent_in_a_row = 0
    for index, said in enumerate(script.user):
        if said == SILENCE:
            silent_in_a_row += 1
            reply = reminder_reply(script.context, played.transcript, silent_in_a_row)
        else:
            silent_in_a_row = 0
            played.transcript.append(Turn("user", said))
            reply = next_reply(script.context, played.transcript)
        played.replies.append(reply)
        played.reply_after.append((index + 1, reply))
        played.transcript.append(Turn("agent", reply.text))
        played.transferred = played.transferred or reply.transfer_number is not None
        if reply.end_call or (reply.transfer_number and not script.keeps_talking):
            played.unplayed = script.user[index + 1 :]
            break
    return played


SCRIPTS = load_scripts()


def test_the_corpus_is_large_enough_to_cover_every_behaviour() -> None:
    assert len(SCRIPTS) >= 120
    assert len({s.name for s in SCRIPTS}) == len(SCRIPTS), "conversation names must be unique"
    for kind in LISTENING_CLASSES:
        assert sum(s.kind == kind for s in SCRIPTS) >= MIN_PER_CLASS, kind


def test_new_scripts_say_when_each_fact_was_given() -> None:
    for script in SCRIPTS:
        if script.kind in LISTENING_CLASSES:
            stated = {k for k, v in script.expect["result"].items() if k in _ASKABLE}
            assert stated <= set(script.given), (script.name, stated - set(script.given))
            assert all(1 <= turn <= len(script.user) for turn in script.given.values())


# Which fact a question of the agent asks for, read from its words (not from the agent's code).
_ASKABLE = {
    "driver_status": r"\bstatus\b|are you driving|on the road right now|running late, or",
    "current_location": r"where are you right now|highway you'?re on|which highway or which town|"
    r"mile marker, exit, or truck stop",
    "eta": r"\beta\b|what time|how long until|get there",
    "delay_reason": r"holding you up|causing the delay|about the delay",
    "unloading_status": r"in a door|on a door|door number|unloading yet",
    "pod_reminder_acknowledged": r"\bpod\b|proof of delivery",
    "safety_status": r"\bsafe\b",
    "injury_status": r"\bhurt\b|ambulance",
    "emergency_location": r"\bexact",
    "load_secure": r"load secure|trailer and the load",
}
_ASKS = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in _ASKABLE.items()}
_QUESTION = re.compile(r"[^.?!]*\?")


def _asked_facts(reply: Reply) -> set[str]:
    questions = " ".join(_QUESTION.findall(reply.text))
    return {name for name, pattern in _ASKS.items() if pattern.search(questions)}


def _given_turns(script: Script, played: Played) -> dict[str, int]:
    if script.given:
        return script.given
    derived: dict[str, int] = {}
    user_turns = [i for i, t in enumerate(played.transcript) if t.role == "user"]
    for name in _ASKABLE:
        wanted = script.expect["result"].get(name)
        if wanted is None:
            continue
        for index in user_turns:
            value = getattr(extract_result(script.context, played.transcript[: index + 1]), name)
            if (value.value if hasattr(value, "value") else value) == wanted:
                derived[name] = script.user.index(played.transcript[index].content) + 1
                break
    return derived


def _reasked(script: Script) -> list[str]:
    played = play(script)
    given = _given_turns(script, played)
    return [
        f"{script.name}: after driver turn {after}, {fact} (given at {given[fact]}): {reply.text}"
        for after, reply in played.reply_after
        for fact in _asked_facts(reply)
        if fact in given and given[fact] <= after
    ]


def test_no_question_asks_for_a_fact_the_driver_already_gave() -> None:
    reasked = [line for script in SCRIPTS for line in _reasked(script)]
    assert len(reasked) == 0, "\n".join(reasked)


def test_at_least_97_percent_of_fields_are_right_over_the_whole_set() -> None:
    right = total = 0
    wrong: list[str] = []
    for script in SCRIPTS:
        result = extract_result(script.context, play(script).transcript).to_dict()
        for name in RESULT_FIELDS:
            wanted = script.expect["result"].get(name)
            if wanted is None and result[name] is None:
                continue  # an empty field both ways says nothing about listening
            total += 1
            right += result[name] == wanted
            if result[name] != wanted:
                wrong.append(f"{script.name}: {name} {result[name]!r} != {wanted!r}")
    assert total > 0 and right / total >= 0.97, f"{right}/{total}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_conversation(script: Script) -> None:
    played = play(script)
    expect = script.expect
    transcript_text = "\n".join(f"{t.role}: {t.content}" for t in played.transcript)

    assert not played.unplayed, f"the agent hung up early:\n{transcript_text}"
    assert played.last.end_call is expect.get("ended", False), transcript_text
    transferred = played.transferred if script.keeps_talking else played.last.transfer_number
    assert bool(transferred) is expect.get("transferred", False), transcript_text
    if transferred and not script.keeps_talking:
        assert played.last.transfer_number == script.context.transfer_number
    for phrase in expect.get("said", []):
        assert phrase.lower() in played.agent_text.lower(), (
            f"{phrase!r} not said:\n{transcript_text}"
        )
    for phrase in expect.get("not_said", []):
        assert phrase.lower() not in played.agent_text.lower(), transcript_text
    for phrase, times in expect.get("said_times", {}).items():
        assert played.agent_text.lower().count(phrase.lower()) == times, transcript_text
    if "max_agent_turns" in expect:
        assert len(played.replies) <= expect["max_agent_turns"], transcript_text

    result = extract_result(script.context, played.transcript).to_dict()
    wanted = {name: expect["result"].get(name) for name in RESULT_FIELDS}
    assert result == wanted, transcript_text
