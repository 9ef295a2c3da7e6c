"""How the agent hears speech-to-text input: places, times, numbers, and call analytics."""

from __future__ import annotations

import pytest

from agent import DEFAULT_KEYWORDS, Turn, analyze
from agent.places import find_location
from agent.text import normalize
from agent.times import find_eta


@pytest.mark.parametrize(
    ("said", "expecting", "where"),
    [
        ("I'm on I-40 near Amarillo.", False, "I-40 near Amarillo"),
        ("i 40 just past amarillo", False, "I-40 near Amarillo"),
        ("interstate forty by oklahoma city", False, "I-40 near Oklahoma City"),
        ("us two eighty seven outside of wichita falls", False, "US-287 near Wichita Falls"),
        ("US-287", False, "US-287"),
        ("highway forty one", False, "Highway 41"),
        ("95", True, "I-95"),
        ("on 95 headed north", False, "I-95 northbound"),
        ("mile marker one twelve on i ten eastbound", False, "I-10 eastbound mile marker 112"),
        ("pulled into the loves at exit 140", False, "Love's at exit 140"),
        ("at the pilot in little rock", False, "Pilot near Little Rock"),
        ("about fifty miles from phoenix", False, "50 miles from Phoenix"),
        ("saint louis", True, "St. Louis"),
        ("just got to the receiver", False, "at the receiver"),
        ("i seventy mile marker two twelve", False, "I-70 mile marker 212"),
        ("about a hundred twenty miles out on i eighty", False, "I-80, 120 miles out"),
    ],
)
def test_locations_are_read_in_every_form_drivers_use(
    said: str, expecting: bool, where: str
) -> None:
    location = find_location(normalize(said), expecting_location=expecting)
    assert location is not None and location.describe() == where


@pytest.mark.parametrize(
    "said",
    [
        "surprise surprise more traffic",
        "i'm 20 minutes out",
        "heading to the receiver now",
        "yeah",
        "95",  # a bare number only counts when the agent asked where the driver is
    ],
)
def test_ordinary_words_and_numbers_are_not_places(said: str) -> None:
    assert find_location(normalize(said)) is None


@pytest.mark.parametrize(
    ("said", "expecting", "eta"),
    [
        ("should be there by four pm", False, "4 pm"),
        ("four thirty p.m.", False, "4:30 pm"),
        ("eta 14:30", False, "14:30"),
        ("around noon", True, "noon"),
        ("probably tomorrow morning", False, "tomorrow morning"),
        ("i'll be there in two hours", False, "in 2 hours"),
        ("forty five minutes out", False, "in 45 minutes"),
        ("an hour and a half", True, "in 1.5 hours"),
        ("in like half an hour", True, "in 30 minutes"),
        ("gonna roll in around six", False, "6:00"),
        ("tomorrow around 8", True, "8:00 tomorrow"),
        ("on time, i'll make my appointment", False, "on time for the appointment"),
        ("in like two and a half hours", True, "in 2.5 hours"),
        ("should be there around two in the afternoon", False, "2 pm"),
        ("be there by eight in the morning", False, "8 am"),
        ("eta is about 1030 am", False, "10:30 am"),
        ("by 930 tonight", False, "9:30 tonight"),
        ("around 1030 tomorrow morning", True, "10:30 tomorrow morning"),
    ],
)
def test_arrival_times_are_normalized(said: str, expecting: bool, eta: str) -> None:
    assert find_eta(normalize(said), expecting_eta=expecting) == eta


@pytest.mark.parametrize(
    "said", ["been waiting two hours", "mile marker 112", "exit 6", "yeah", "mile marker 1030"]
)
def test_durations_and_numbers_that_are_not_arrival_times(said: str) -> None:
    assert find_eta(normalize(said), expecting_eta=False) is None


@pytest.mark.parametrize(
    ("said", "normalized"),
    [
        ("Um, I'm on I-40, uh, near Amarillo", "i'm on i 40 near amarillo"),
        ("no one is hurt", "no one is hurt"),
        ("exit one twenty", "exit 120"),
        ("door twenty one", "door 21"),
        ("one hundred and twelve", "112"),
        ("[inaudible] forty", "40"),
        ("i i i crashed", "i crashed"),
        ("exit one oh four", "exit 104"),
        ("be there at ten oh five", "be there at 10:05"),
        ("a hundred twenty miles out", "a 120 miles out"),
        ("uh huh", "yeah"),
        ("mhm", "yeah"),
    ],
)
def test_speech_is_normalized_once_for_every_reader(said: str, normalized: str) -> None:
    assert normalize(said) == normalized


def test_analysis_counts_keywords_in_the_drivers_words_only() -> None:
    transcript = [
        Turn("agent", "Any traffic or delays?"),
        Turn("user", "Traffic is bad, delayed an hour. More traffic ahead."),
    ]
    hits = analyze(transcript, ["traffic", "delay", "lumper"]).keyword_hits
    assert hits == {"traffic": 2, "delay": 1, "lumper": 0}
    assert set(analyze(transcript, DEFAULT_KEYWORDS).keyword_hits) == set(DEFAULT_KEYWORDS)


def test_sentiment_follows_the_drivers_mood() -> None:
    happy = analyze([Turn("user", "all good, great day, thanks a lot!")], ())
    upset = analyze([Turn("user", "this is terrible, i hate this awful traffic")], ())
    assert happy.sentiment > 0.3 and upset.sentiment < -0.3
    assert analyze([], ()).sentiment == 0.0


def test_interruptions_are_estimated_from_barge_ins_and_cut_off_agent_turns() -> None:
    transcript = [
        Turn("agent", "Hi Mike, this is Dispatch. Can you give me"),  # cut off mid-sentence
        Turn("user", "yeah i'm on 40"),
        Turn("agent", "Got it. What's your ETA?"),
        Turn("user", "wait hold on, let me check"),  # barge-in phrase
        Turn("agent", "Sure."),
        Turn("user", "4 pm"),
    ]
    analysis = analyze(transcript, ())
    assert analysis.interruptions_est == 2
    assert (analysis.user_turns, analysis.agent_turns) == (3, 3)


def test_token_estimate_is_about_four_characters_per_token() -> None:
    transcript = [Turn("agent", "a" * 400), Turn("user", "b" * 400)]
    assert analyze(transcript, ()).tokens_estimated == 200 + 2
