"""On-time risk from an appointment and an ETA; towns along a load's route heard through noise."""

from __future__ import annotations

import pytest

from agent import CallContext, Turn, next_reply
from agent.route import route_towns, town_on_route
from agent.schedule import OnTime, eta_merged, on_time, spoken_time
from agent.text import utterance
from agent.vocabulary import OnTimeStatus

LATE, AT_RISK, ON_TIME = OnTimeStatus.LATE, OnTimeStatus.AT_RISK, OnTimeStatus.ON_TIME


@pytest.mark.parametrize(
    ("appointment", "eta", "local_time", "expected"),
    [
        ("2 pm", "5 pm", None, OnTime(LATE, 180)),
        ("2 pm", "6:00", None, OnTime(LATE, 240)),  # 6 pm, the 6 nearer the appointment
        ("2 pm", "1:45 pm", None, OnTime(AT_RISK)),
        ("2 pm", "1:30 pm", None, OnTime(ON_TIME)),  # 30 minutes to spare is enough
        ("1 pm", "12:45", None, OnTime(AT_RISK)),  # a quarter to one, not past midnight
        ("2 pm", "noon", None, OnTime(ON_TIME)),
        ("2 pm", "10 pm tonight", None, OnTime(LATE, 480)),
        ("2 pm", "tonight", None, OnTime(LATE)),  # after 6 pm: late, by how much unknown
        ("8 am tomorrow", "4 pm", None, OnTime(ON_TIME)),  # today, before tomorrow's appointment
        ("8 am tomorrow", "tomorrow morning", None, OnTime(AT_RISK)),
        ("14:00", "15:30", None, OnTime(LATE, 90)),
        ("2 pm", "in 2 hours", None, None),  # a duration needs the call's local time
        ("2 pm", "in 2 hours", "2026-11-26T13:00", OnTime(LATE, 60)),
        ("2026-11-27 08:00", "9:00 tonight", "2026-11-26T15:30", OnTime(ON_TIME)),
        ("Friday 7 am", "9:00 tomorrow morning", "2026-11-26T14:00", OnTime(LATE, 120)),
        # A TMS sends ISO 8601 with the offset of the appointment's place.
        ("2026-11-27T08:00:00-06:00", "9:00 tonight", "2026-11-26T15:30", OnTime(ON_TIME)),
        ("2026-11-26T14:00:00-06:00", "5 pm", "2026-11-26T09:00", OnTime(LATE, 180)),
        ("2026-11-27", "9:00 tomorrow morning", "2026-11-26T14:00", OnTime(ON_TIME)),
        ("3 pm", "saturday 4 pm", None, OnTime(LATE)),  # later whichever day today is
        ("Thursday 6 am", "4:30 pm", None, None),  # which Thursday is unknown without a date
        (None, "5 pm", None, None),
        ("whenever", "5 pm", None, None),
    ],
)
def test_on_time_compares_the_eta_with_the_appointment(
    appointment: str | None, eta: str, local_time: str | None, expected: OnTime | None
) -> None:
    assert on_time(appointment, eta, local_time=local_time) == expected


def test_a_day_said_after_a_clock_time_dates_it_instead_of_dropping_it() -> None:
    assert eta_merged("saturday", "4 pm") == "saturday 4 pm"
    assert eta_merged("saturday", "4 pm today") == "saturday"
    assert eta_merged("5 pm", "4 pm") == "5 pm"
    assert eta_merged("tomorrow morning", "4 pm") == "tomorrow morning"


@pytest.mark.parametrize(
    ("appointment", "said"),
    [
        ("2026-11-30T10:00:00-06:00", "Monday, November 30 at 10 AM"),
        ("2026-11-30T14:30Z", "Monday, November 30 at 2:30 PM"),
        ("2026-11-30", "Monday, November 30"),
        ("Friday 10 AM", "Friday 10 AM"),
        ("2026-13-45T10:00", "2026-13-45T10:00"),  # not a date: said as written
    ],
)
def test_an_iso_appointment_is_read_out_as_a_driver_says_it(appointment: str, said: str) -> None:
    assert spoken_time(appointment) == said


def test_the_agent_never_reads_an_iso_timestamp_to_the_driver() -> None:
    context = CallContext(
        driver_name="Tom Becker",
        load_number="A-1",
        destination="Amarillo, TX",
        appointment="2026-11-30T10:00:00-06:00",
        local_time="2026-11-30T06:00:00-06:00",
    )
    said = " ".join(
        next_reply(
            context,
            [
                Turn(role="agent", content="Hi Tom"),
                Turn(role="user", content="I'm on I 40 near Amarillo, there around 2 pm"),
            ],
        ).sentences
    )
    assert "about 4 hours past your Monday, November 30 at 10 AM appointment" in said
    asked = next_reply(
        context,
        [Turn(role="agent", content="Hi"), Turn(role="user", content="When is my appointment?")],
    )
    assert "Your appointment is Monday, November 30 at 10 AM." in asked.sentences


def test_what_the_driver_says_decides_when_no_eta_compares() -> None:
    assert on_time("2 pm", None, says_late=True) == OnTime(LATE)
    assert on_time("2 pm", None, delayed=True) == OnTime(AT_RISK)
    assert on_time("2 pm", "in 2 hours", delayed=True) == OnTime(AT_RISK)
    assert on_time("2 pm", "on time for the appointment", says_on_time=True) == OnTime(ON_TIME)
    assert on_time("2 pm", "5 pm", says_on_time=True) == OnTime(LATE, 180)  # the clock wins


I40 = ("Oklahoma City, OK", "Albuquerque, NM")


@pytest.mark.parametrize(
    ("said", "town", "sure"),
    [
        ("im on i 40 near memory", "Amarillo", False),  # misheard: to be confirmed
        ("rolling out past a marilla", "Amarillo", False),
        ("near tuck um carry", "Tucumcari", False),
        ("rolling tulsa noon", None, None),  # Tulsa is not on this route
        ("by el reno", "El Reno", True),  # a small town on the way, said outright
        ("in clinton", "Clinton", True),
        ("rolling amarillo noon", "Amarillo", False),  # no place cue: confirm it
    ],
)
def test_towns_on_the_route_are_heard_through_noise(
    said: str, town: str | None, sure: bool | None
) -> None:
    found = town_on_route(utterance(said), route_towns(*I40))
    assert (found[0].city, found[1]) == (town, sure) if town else found is None


@pytest.mark.parametrize(
    "said",
    ["near the scale", "in the yard", "around", "out here", "by the loves", "outside of town"],
)
def test_ordinary_words_are_not_misheard_towns(said: str) -> None:
    assert town_on_route(utterance(said), route_towns(*I40)) is None


def test_without_a_known_route_no_town_is_guessed() -> None:
    assert route_towns(None, "Albuquerque, NM") == ()
    assert route_towns("Nowhere Special, ZZ", "Albuquerque, NM") == ()
    assert town_on_route(utterance("near memory"), route_towns(None, None)) is None
