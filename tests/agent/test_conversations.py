"""Replays every scripted conversation in tests/agent/conversations/ against the rules agent.

Each script gives the driver's turns (the string "(silence)" stands for Retell's
reminder_required: the driver said nothing). The runner plays Retell: it sends the opening,
then each driver turn in order, appending the agent's actual replies to the transcript, and
stops when the agent ends or transfers the call. It then checks what the agent did (ended,
transferred), what it said, and the full structured result: fields a script does not list must
be null.
"""

from __future__ import annotations

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


@dataclass
class Script:
    name: str
    context: CallContext
    user: list[str]
    expect: dict[str, Any]


@dataclass
class Played:
    transcript: list[Turn] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    unplayed: list[str] = field(default_factory=list)

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
                    context=CallContext(**context),
                    user=list(item["user"]),
                    expect=item["expect"],
                )
            )
    return scripts


def play(script: Script) -> Played:
    played = Played()
    first = opening(script.context)
    played.replies.append(first)
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
        played.transcript.append(Turn("agent", reply.text))
        if reply.end_call or reply.transfer_number:
            played.unplayed = script.user[index + 1 :]
            break
    return played


SCRIPTS = load_scripts()


def test_the_corpus_is_large_enough_to_cover_every_behaviour() -> None:
    assert len(SCRIPTS) >= 40
    assert len({s.name for s in SCRIPTS}) == len(SCRIPTS), "conversation names must be unique"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_conversation(script: Script) -> None:
    played = play(script)
    expect = script.expect
    transcript_text = "\n".join(f"{t.role}: {t.content}" for t in played.transcript)

    assert not played.unplayed, f"the agent hung up early:\n{transcript_text}"
    assert played.last.end_call is expect.get("ended", False), transcript_text
    transferred = played.last.transfer_number is not None
    assert transferred is expect.get("transferred", False), transcript_text
    if transferred:
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
