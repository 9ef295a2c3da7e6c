"""The word gate in front of the agent's regexes never changes what they find.

`GatedPattern` skips a regex scan when none of the pattern's words can start in the
utterance. That is only a speed-up if it is invisible: for every gated pattern in the agent
and every utterance (the scripted corpus, the property-test phrases, generated text), the gated
search must agree with the plain regex.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import places, rules, signals, times, topics
from agent.text import GatedPattern, Utterance, normalize
from tests.agent.test_properties import PHRASES


def _gated_patterns() -> list[tuple[str, GatedPattern]]:
    found: list[tuple[str, GatedPattern]] = []
    for module in (signals, places, times, topics):
        for name, value in vars(module).items():
            items = value if isinstance(value, tuple) else (value,)
            for index, item in enumerate(items):
                candidates = item if isinstance(item, tuple) else (item,)
                for candidate in candidates:
                    if isinstance(candidate, GatedPattern):
                        found.append((f"{module.__name__}.{name}[{index}]", candidate))
    return found


GATED = _gated_patterns()
CORPUS_LINES = tuple(
    line
    for path in sorted((Path(__file__).parent / "conversations").glob("*.toml"))
    for conversation in tomllib.loads(path.read_text())["conversation"]
    for line in conversation["user"]
)
EXTRA = (
    "4pm i40 exit140",
    "i'm ok",
    "no",
    "in 2 hours",
    "eastbound on 10",
    "50 miles out",
    "weigh station then scales",
    "no one's hurt",
    "we're here at the dc",
    "ta in ontario",
    "at the T.A. in ontario",
    "10 4",
    "u s 287",
    "rolled it",
    "probably a problem",
    "there",
)


def _agree(text: str) -> None:
    normalized = normalize(text)
    gated_text = Utterance(normalized)
    for name, pattern in GATED:
        assert bool(pattern.search(gated_text)) == bool(pattern.pattern.search(normalized)), (
            name,
            normalized,
        )
        assert [m.span() for m in pattern.finditer(gated_text)] == [
            m.span() for m in pattern.pattern.finditer(normalized)
        ], (name, normalized)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | tuple):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


# Every sentence the rules agent can say, as the topic reader sees it.
AGENT_LINES = tuple(
    sorted(
        {
            line.lower()
            for name, value in vars(rules).items()
            if name.lstrip("_").isupper()
            for line in _strings(value)
        }
    )
)


@pytest.mark.parametrize("question", AGENT_LINES)
def test_gated_search_agrees_with_the_regex_on_the_agents_own_questions(question: str) -> None:
    cleaned = topics._NOT_WORD.sub(" ", question)
    for name, pattern in GATED:
        assert bool(pattern.search(Utterance(cleaned))) == bool(pattern.pattern.search(cleaned)), (
            name,
            question,
        )


def test_the_agent_gates_its_word_list_patterns() -> None:
    assert len(GATED) > 50


@pytest.mark.parametrize("text", CORPUS_LINES + PHRASES + EXTRA)
def test_gated_search_agrees_with_the_regex_on_real_utterances(text: str) -> None:
    _agree(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(CORPUS_LINES + PHRASES), st.text(max_size=30)),
        min_size=1,
        max_size=3,
    ).map(" ".join)
)
def test_gated_search_agrees_with_the_regex_on_generated_utterances(text: str) -> None:
    _agree(text)
