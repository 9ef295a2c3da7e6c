"""The call so far, folded left to right over the transcript.

`follow(transcript)` is the single reading of a call that both the reply (`agent.rules`) and the
structured result (`agent.result`) use, so what the agent says and what it records never
disagree. Each user turn is read next to the question the agent asked before it; facts only
accumulate or get refined, never vanish, which keeps the result monotonic as the call grows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from agent.phone import phone_number
from agent.places import Location
from agent.route import NO_ROUTE, route_towns
from agent.schedule import OnTime, eta_merged, on_time
from agent.signals import Question, Reading, read_user_turn
from agent.topics import Topic, asked_topic
from agent.types import CallContext, Turn
from agent.vocabulary import DriverStatus, EmergencyType

PROBE_LIMIT = 3  # probes with specific options before the agent gives up politely
EMERGENCY_ASK_LIMIT = 2  # times one emergency question is asked before moving on
SILENCE_REMINDER_LIMIT = 3  # reminders in a row before the agent ends the call
SILENCE_GOODBYE = "I'm not hearing anything, so I'll end the call here."

HANDOVER_PHRASE = re.compile(
    r"(?i)\b(?:human )?dispatcher\b.*\b(?:connect|on the line|transfer)|"
    r"\b(?:connect|transfer)\w* you to (?:a |the )?(?:human|dispatcher)"
)
# Without a transfer line the agent tells the driver the office will call back instead.
OFFICE_ALERTED_PHRASE = re.compile(r"(?i)\balerted the dispatch office\b")
EMERGENCY_GOODBYE = "I'm ending this call now."
CALLBACK_ASK_LIMIT = 1  # the callback number is asked once; the office has the call either way

_EMERGENCY_TOPICS = (Topic.SAFETY, Topic.INJURY, Topic.LOCATION, Topic.LOAD_SECURE)


@dataclass(frozen=True, slots=True)
class CallState:
    # check-in
    status: DriverStatus | None = None
    location: Location | None = None
    eta: str | None = None
    delay_reasons: tuple[str, ...] = ()
    unloading: tuple[str, ...] = ()
    pod_reminded: bool = False
    pod_answered: bool = False
    pod_ack: bool | None = None
    heard_town: Location | None = None  # a town heard but not yet confirmed by the driver
    towns_asked: tuple[str, ...] = ()  # towns the agent asked the driver to confirm
    delay_asks: int = 0  # times the agent asked what is holding the driver up
    delay_answered_else: bool = False  # the delay question got an answer that was not a reason
    misses_appointment: bool = False
    said_on_schedule: bool = False  # "made up the time"
    ran_late: bool = False  # was delayed at some point and never said the time was made up
    on_time: OnTime | None = None  # the ETA against the context's appointment
    # emergency
    emergency: EmergencyType | None = None
    in_danger: bool = False
    safety: str | None = None
    injury: str | None = None
    injured: bool = False
    emergency_location: Location | None = None
    load_secure: bool | None = None
    emergency_asks: tuple[tuple[Topic, int], ...] = ()
    # conversation
    user_turns: int = 0
    last_reading: Reading | None = None
    topic: Topic = Topic.NONE  # what the agent asked last, still unanswered
    unproductive_streak: int = 0
    repeat_asked: bool = False
    trailing_agent_turns: int = 0
    silence_goodbye_said: bool = False
    connecting_announced: bool = False  # the agent told the driver a dispatcher is coming
    handover_reached: bool = False  # the protocol reached the transfer point; it stays reached
    office_alerted: bool = False  # the agent told the driver the office will call back
    emergency_goodbye_said: bool = False  # ... and that it is ending the call
    callback_number: str | None = None  # the number the driver gave for the callback
    callback_asks: int = 0

    def emergency_asked(self, topic: Topic) -> int:
        return dict(self.emergency_asks).get(topic, 0)

    @property
    def gave_up(self) -> bool:
        """The driver stayed evasive through every probe."""
        return self.emergency is None and self.unproductive_streak > PROBE_LIMIT

    @property
    def ended_in_silence(self) -> bool:
        return self.silence_goodbye_said or self.trailing_agent_turns > SILENCE_REMINDER_LIMIT

    def next_emergency_topic(self) -> Topic | None:
        """The next emergency question to ask, None when it is time to transfer."""
        if self.emergency is None or self.handover_reached:
            return None
        return _next_emergency_topic(partial(getattr, self), dict(self.emergency_asks))

    @property
    def escalated(self) -> bool:
        return self.emergency is not None and (
            self.connecting_announced or self.office_alerted or self.handover_reached
        )


_EMPTY = CallState()


def _next_emergency_topic(get: Callable[[str], Any], asks: dict[Topic, int]) -> Topic | None:
    """Safety, injuries, exact location, load: the first still unknown and not yet asked twice.

    None means hand over now: all known (or asked enough), or someone is hurt or in danger.
    """
    if get("injured") or get("in_danger"):
        return None
    location = get("emergency_location")
    missing = {
        Topic.SAFETY: get("safety") is None,
        Topic.INJURY: get("injury") is None,
        Topic.LOCATION: location is None or not location.exact,
        Topic.LOAD_SECURE: get("load_secure") is None,
    }
    for topic in _EMERGENCY_TOPICS:
        if missing[topic] and asks.get(topic, 0) < EMERGENCY_ASK_LIMIT:
            return topic
    return None


def _note_handover(values: dict[str, object], asks: dict[Topic, int]) -> None:
    if values.get("emergency") is not None and not values.get("handover_reached"):

        def get(name: str) -> object:
            return values.get(name, getattr(_EMPTY, name))

        if _next_emergency_topic(get, asks) is None:
            values["handover_reached"] = True


def _apply_agent(values: dict[str, object], asks: dict[Topic, int], turn: Turn) -> None:
    topic = asked_topic(turn.content)
    values["trailing_agent_turns"] = int(values.get("trailing_agent_turns", 0)) + 1
    if SILENCE_GOODBYE in turn.content:
        values["silence_goodbye_said"] = True
    if values.get("emergency") is not None and HANDOVER_PHRASE.search(turn.content):
        values["connecting_announced"] = True
    if values.get("emergency") is not None and OFFICE_ALERTED_PHRASE.search(turn.content):
        values["office_alerted"] = True
    if values.get("emergency") is not None and EMERGENCY_GOODBYE in turn.content:
        values["emergency_goodbye_said"] = True
    if topic is Topic.CALLBACK:
        values["callback_asks"] = int(values.get("callback_asks", 0)) + 1  # type: ignore[call-overload]
    if topic is Topic.REPEAT:
        values["repeat_asked"] = True  # the question being repeated stays the pending one
        return
    if topic is Topic.NONE:
        return  # a nudge or a statement: the pending question stays pending
    values["topic"] = topic
    if topic is Topic.POD:
        values["pod_reminded"] = True
    if topic is Topic.DELAY_REASON:
        values["delay_asks"] = int(values.get("delay_asks", 0)) + 1  # type: ignore[call-overload]
    if topic is Topic.CONFIRM and isinstance(town := values.get("heard_town"), Location):
        values["towns_asked"] = (*values.get("towns_asked", ()), town.city)  # type: ignore[misc]
    if values.get("emergency") is not None and topic in _EMERGENCY_TOPICS:
        asks[topic] = asks.get(topic, 0) + 1


def _apply_emergency_reading(values: dict[str, object], reading: Reading) -> None:
    if reading.unsafe:
        values["in_danger"] = True
    if reading.emergency and reading.emergency.in_danger:
        values["in_danger"] = True
    if reading.safety and (values.get("safety") is None or reading.unsafe):
        values["safety"] = reading.safety
    if reading.injury and (values.get("injury") in (None, "No injuries") or reading.injured):
        values["injury"] = reading.injury
        values["injured"] = bool(values.get("injured")) or reading.injured
    if reading.location:
        older = values.get("emergency_location")
        if older is None and isinstance(checkin := values.get("location"), Location):
            older = Location(highway=checkin.highway, direction=checkin.direction)
        values["emergency_location"] = reading.location.merged_over(
            older if isinstance(older, Location) else None
        )
    if reading.load_secure is not None:
        values["load_secure"] = reading.load_secure


_FACT_NAMES = (
    "status",
    "location",
    "eta",
    "delay_reasons",
    "unloading",
    "pod_answered",
    "pod_ack",
    "heard_town",
    "emergency",
    "safety",
    "injury",
    "emergency_location",
    "load_secure",
    "callback_number",
)
_AT_FACILITY = (DriverStatus.ARRIVED, DriverStatus.UNLOADING)


def _apply_checkin_reading(values: dict[str, object], reading: Reading, topic: Topic) -> None:
    if reading.not_there_yet and values.get("status") is DriverStatus.ARRIVED:
        # "No, I'm still on the road": the arrival was a misreading; back on the road, and
        # still delayed if a delay was given.
        delayed = reading.status is DriverStatus.DELAYED or values.get("delay_reasons")
        values["status"] = DriverStatus.DELAYED if delayed else DriverStatus.DRIVING
        values["unloading"] = ()
        if isinstance(old := values.get("location"), Location) and old.facility:
            values["location"] = None  # not at the receiver after all
    if values.get("status") in _AT_FACILITY:
        # Once at the receiver, talk of times and delays is not an ETA or a new delay.
        reading = replace(reading, eta=None, delay_reasons=())
        if reading.status in (DriverStatus.DRIVING, DriverStatus.DELAYED):
            reading = replace(reading, status=None)
    if reading.status and (
        reading.status is not DriverStatus.DRIVING or values.get("status") is None
    ):
        values["status"] = reading.status  # a location alone never undoes "running late"
    if reading.back_on_schedule and values.get("status") is DriverStatus.DELAYED:
        values["status"] = DriverStatus.DRIVING
    if reading.location:
        older = values.get("location")
        values["location"] = reading.location.merged_over(
            older if isinstance(older, Location) else None
        )
        if values.get("status") is None and not reading.location.facility:
            values["status"] = DriverStatus.DRIVING  # somewhere on the way
    if reading.eta:
        older = values.get("eta")
        values["eta"] = eta_merged(reading.eta, older if isinstance(older, str) else None)
        if values.get("status") is None:
            values["status"] = DriverStatus.DRIVING
    if reading.delay_reasons:
        known = tuple(values.get("delay_reasons", ()))  # type: ignore[arg-type]
        values["delay_reasons"] = known + tuple(r for r in reading.delay_reasons if r not in known)
        if values.get("status") in (None, DriverStatus.DRIVING):
            values["status"] = DriverStatus.DELAYED
    at_facility = values.get("status") in _AT_FACILITY or any(
        not u.startswith("Detention") for u in reading.unloading
    )
    if reading.unloading and at_facility:  # detention at the shipper is not an arrival
        known = tuple(values.get("unloading", ()))  # type: ignore[arg-type]
        if any(u.startswith("Door ") for u in reading.unloading):
            known = tuple(u for u in known if not u.startswith("Door "))  # "door 21 not 12"
        values["unloading"] = known + tuple(u for u in reading.unloading if u not in known)
        door_or_unloading = any(
            u.startswith(("Door", "Lumper unloading", "Unload")) for u in reading.unloading
        )
        if values.get("status") is DriverStatus.ARRIVED and door_or_unloading:
            values["status"] = DriverStatus.UNLOADING  # "at the receiver, door 12"
        elif values.get("status") in (None, DriverStatus.DRIVING, DriverStatus.DELAYED):
            values["status"] = DriverStatus.UNLOADING if door_or_unloading else DriverStatus.ARRIVED
    # A POD question answered with something else ("it's door 21, not 12") is still open.
    if reading.pod_ack is not None or (topic is Topic.POD and not reading.says_something):
        values["pod_answered"] = True
        if reading.pod_ack is not None:
            values["pod_ack"] = reading.pod_ack
    if reading.misses_appointment:
        values["misses_appointment"] = True
    elif reading.back_on_schedule:
        values["misses_appointment"] = False
        values["said_on_schedule"] = True
        values["ran_late"] = False
    if values.get("status") is DriverStatus.DELAYED:
        values["ran_late"] = True
    if topic is Topic.DELAY_REASON and not reading.delay_reasons and reading.says_something:
        values["delay_answered_else"] = True  # "around 6": an ETA, taken as what it is
    _apply_heard_town(values, reading, topic)


def _apply_heard_town(values: dict[str, object], reading: Reading, topic: Topic) -> None:
    """A town heard without a cue is recorded only once the driver confirms it."""
    heard = values.get("heard_town")
    location = values.get("location")
    if isinstance(heard, Location) and topic is Topic.CONFIRM:
        values["heard_town"] = None
        said_place = reading.location is not None and (
            reading.location.city or reading.location.state
        )
        if reading.yes and not said_place:
            values["location"] = heard.merged_over(
                location if isinstance(location, Location) else None
            )
            if values.get("status") is None:
                values["status"] = DriverStatus.DRIVING
        elif not (reading.no or said_place):
            values["heard_town"] = heard  # neither yes nor no: the question still stands
        return
    town = reading.heard_town
    if town is None or town.city in values.get("towns_asked", ()):  # type: ignore[operator]
        return
    if isinstance(location, Location) and (location.city or location.facility):
        return
    values["heard_town"] = town


def follow(transcript: Sequence[Turn], context: CallContext | None = None) -> CallState:
    """Fold the transcript into the state of the call (the context names the route and the
    appointment)."""
    towns = route_towns(context.origin, context.destination) if context else NO_ROUTE
    values: dict[str, object] = {}
    asks: dict[Topic, int] = {}
    user_turns = 0
    for turn in transcript:
        if turn.role == "agent":
            _apply_agent(values, asks, turn)
            _note_handover(values, asks)
            continue
        topic = values.get("topic", Topic.NONE)
        assert isinstance(topic, Topic)
        in_emergency = values.get("emergency") is not None
        reading = read_user_turn(turn.content, topic, in_emergency=in_emergency, towns=towns)
        user_turns += 1
        values["trailing_agent_turns"] = 0
        values["silence_goodbye_said"] = False
        values["last_reading"] = reading
        if reading.emergency and not in_emergency:
            values["emergency"] = reading.emergency.kind
            in_emergency = True
        facts_before = tuple(values.get(name) for name in _FACT_NAMES)
        if topic is Topic.CALLBACK and (number := phone_number(turn.content)):
            values["callback_number"] = number
        if in_emergency:
            _apply_emergency_reading(values, reading)
            _note_handover(values, asks)
        else:
            _apply_checkin_reading(values, reading, topic)
        # Productive means the driver told us something new (or asked something): repeating
        # "on the road" for the third time is still evasive.
        productive = (
            facts_before != tuple(values.get(name) for name in _FACT_NAMES)
            or reading.question not in (None, Question.REPEAT)  # "can't hear you" forever ends
            or (reading.garbled and not values.get("repeat_asked"))
        )
        streak = int(values.get("unproductive_streak", 0))  # type: ignore[call-overload]
        values["unproductive_streak"] = 0 if productive else streak + 1
        values["topic"] = Topic.NONE if productive and not reading.garbled else topic
    values["user_turns"] = user_turns
    values["emergency_asks"] = tuple(sorted(asks.items()))
    if context is not None and context.appointment:
        eta = values.get("eta")
        values["on_time"] = on_time(
            context.appointment,
            eta if isinstance(eta, str) else None,
            local_time=context.local_time,
            says_late=bool(values.get("misses_appointment")),
            delayed=bool(values.get("ran_late")),
            says_on_time=bool(values.get("said_on_schedule"))
            or (isinstance(eta, str) and eta.startswith("on time")),
        )
    return CallState(**values)  # type: ignore[arg-type]
