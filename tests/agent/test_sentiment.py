"""Sentiment fits driver speech: checked on labelled driver utterances (+ good news, - bad news,
0 neither) in driver_sentiment.csv. The first 70 rows were written before the driver lexicon;
the last 20 after it, as a check on words it had not seen (16 of 20 agreed before their words
were added)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from agent import analyze, transcript_from
from agent.sentiment import NEUTRAL_BAND, DriverSentiment

LABELLED = Path(__file__).parent / "driver_sentiment.csv"
SCORER = DriverSentiment()


def sign(score: float) -> str:
    return "+" if score >= NEUTRAL_BAND else "-" if score <= -NEUTRAL_BAND else "0"


def labelled() -> list[tuple[str, str]]:
    with LABELLED.open(newline="") as handle:
        return [(row["label"], row["utterance"]) for row in csv.DictReader(handle)]


def test_the_labelled_set_is_large_and_balanced() -> None:
    rows = labelled()
    assert len(rows) >= 60
    for label in "+-0":
        assert sum(1 for got, _ in rows if got == label) >= 15


def test_scores_agree_in_sign_with_the_labels_at_least_nine_times_in_ten() -> None:
    rows = labelled()
    wrong = [(label, text, SCORER.score(text)) for label, text in rows]
    wrong = [w for w in wrong if sign(w[2]) != w[0]]
    agreement = 1 - len(wrong) / len(rows)
    assert agreement >= 0.9, wrong


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("No issues, should make the appointment.", "+"),
        ("No delays, running on schedule.", "+"),
        ("Someone tried to break into my trailer last night.", "-"),
        ("I blew a tire outside of Amarillo.", "-"),
        ("No accidents, no weather, easy drive.", "+"),  # negation stops at the comma
        ("Yeah, this is Mike.", "0"),
    ],
)
def test_the_cases_a_manager_reported(said: str, expected: str) -> None:
    assert sign(SCORER.score(said)) == expected


def test_a_calls_sentiment_is_the_mean_over_the_drivers_turns_only() -> None:
    turns = transcript_from(
        [
            {"role": "agent", "content": "Terrible news about the storm, any problems?"},
            {"role": "user", "content": "No issues."},
            {"role": "user", "content": "Someone tried to break into my trailer last night."},
        ]
    )
    expected = (SCORER.score("No issues.") + SCORER.score(
        "Someone tried to break into my trailer last night."
    )) / 2  # fmt: skip
    assert analyze(turns).sentiment == pytest.approx(expected, abs=1e-4)
