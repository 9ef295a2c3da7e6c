"""The deterministic conversation policy: what the agent says next, from (context, transcript).

Check-in: ask only for what is missing, one thing at a time, confirm in one sentence and end.
Emergency (any moment): safety, injuries, exact location, load; then the hand-off. With a
transfer line (`CallContext.transfer_number`, set by the edge only when the call can really be
transferred) the agent says it is connecting a human dispatcher and transfers
(`Reply.transfer_number`). Without one, or after a transfer that did not go through, it never
says it is connecting anyone: it tells the driver the dispatch office has been alerted and will
call back (911 first when someone is hurt or in danger), asks once for a callback number when
the call does not know one, and ends the call. Whatever the driver says after that is answered
briefly and the call is ended again, never looped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from agent.places import Location
from agent.schedule import spoken_time
from agent.signals import Question, Reading
from agent.state import (
    CALLBACK_ASK_LIMIT,
    EMERGENCY_GOODBYE,
    SILENCE_GOODBYE,
    SILENCE_REMINDER_LIMIT,
    CallState,
    follow,
)
from agent.topics import Topic
from agent.types import CallContext, Reply, Turn
from agent.vocabulary import DriverStatus, EmergencyType, OnTimeStatus

_STATUS_PROBES = (
    "What's your status right now: are you driving, delayed, or already at the receiver?",
    "Just so I can update the board, are you on the road right now, stopped, or at the receiver?",
    "Quick one: are you driving right now, yes or no?",
    "Last try on your status: on schedule, running late, or already there?",
)
_LOCATION_PROBES = (
    "Where are you right now?",
    "Can you give me the highway you're on, or the nearest city?",
    "Even a rough idea helps: which highway or which town are you near?",
    "Is there a mile marker, exit, or truck stop you can see?",
)
_ETA_PROBES = (
    "What's your ETA?",
    "Roughly what time do you think you'll get there: this afternoon, tonight, or tomorrow?",
    "How long until you get there, a couple of hours or more?",
    "What time should I tell the receiver to expect you?",
)
_DELAY_PROBES = (
    "What's holding you up?",
    "Is it traffic, weather, a breakdown, or something at the shipper that's holding you up?",
    "What's causing the delay, roughly?",
    "Anything I should pass on about the delay, what's causing it?",
)
_UNLOADING_PROBES = (
    "Are you in a door yet, or still waiting for one?",
    "Do they have you in a door, are you waiting on a door, or is a lumper unloading you?",
    "What door number are you in, if any?",
    "Are you unloading yet, or still waiting on a door?",
)
_POD_PROBES = (
    "Can you send us the signed POD as soon as you're unloaded?",
    "Can you send the signed POD when you're done?",
    "Will you be able to send the POD today?",
    "Can you snap a picture of the POD and send it over?",
)
_PROBES = {
    Topic.STATUS: _STATUS_PROBES,
    Topic.LOCATION: _LOCATION_PROBES,
    Topic.ETA: _ETA_PROBES,
    Topic.DELAY_REASON: _DELAY_PROBES,
    Topic.UNLOADING: _UNLOADING_PROBES,
    Topic.POD: _POD_PROBES,
}
_EMERGENCY_QUESTIONS = {
    Topic.SAFETY: ("Are you somewhere safe right now, out of traffic?", "Are you safe right now?"),
    Topic.INJURY: ("Is anyone hurt?", "Is anyone hurt or in need of an ambulance?"),
    Topic.LOCATION: (
        "What's your exact location, the highway and mile marker or the nearest exit?",
        "Where exactly are you: which highway, and the closest mile marker, exit, or town?",
    ),
    Topic.LOAD_SECURE: ("Is the load secure?", "Is the trailer and the load secure?"),
}
_EMERGENCY_OPENERS = {
    EmergencyType.ACCIDENT: "I'm sorry to hear about the accident.",
    EmergencyType.BREAKDOWN: "Sorry to hear about the breakdown.",
    EmergencyType.MEDICAL: "That sounds serious.",
    EmergencyType.OTHER: "That sounds serious.",
}
_CONNECTING = "I'm connecting you to a human dispatcher now, please stay on the line."
_STILL_CONNECTING = "I'm transferring you to a human dispatcher now, please stay on the line."
_CALL_911 = "If anyone needs medical help or you're in danger, call 911 right away."
_CALL_911_FIRST = "If anyone is hurt or in danger, call 911 first."
_TRANSFER_FAILED = "I couldn't get a dispatcher on the line."
_OFFICE_ALERTED = "I've alerted the dispatch office, and a dispatcher will call you back right away"
_CALLBACK_QUESTION = "What's the best number for the dispatcher to call you back on?"
_OFFICE_HAS_IT = "The dispatch office has your details and a dispatcher will call you back shortly"
_GOODBYE_SAFE = f"Keep your phone close and stay safe. {EMERGENCY_GOODBYE}"


def _comma_name(context: CallContext) -> str:
    return f", {context.first_name}" if context.first_name else ""


def opening(context: CallContext) -> Reply:
    """The begin message: greet by first name, name the load, ask for a status update."""
    greeting = f"Hi {context.first_name}" if context.first_name else "Hi"
    if context.load_number and context.origin and context.destination:
        load = f"load {context.load_number} from {context.origin} to {context.destination}"
    elif context.load_number:
        load = f"load {context.load_number}"
    else:
        load = "your current load"
    return Reply(
        sentences=(
            f"{greeting}, this is Dispatch with a check call on {load}.",
            "Can you give me a quick status update?",
        )
    )


def _where(location: Location) -> str:
    described = location.describe()
    if described.startswith("at "):
        return described
    if location.highway:
        return f"on {described}"
    if location.miles_out:
        return described
    if location.truck_stop:
        return f"at {described}"
    return f"near {described}"


def _answer(question: Question, context: CallContext) -> tuple[str, ...]:
    if question is Question.DESTINATION:
        if not context.destination:
            return (
                "I don't have the delivery address in front of me; your dispatcher will send it.",
            )
        appointment = (
            (f"Your appointment is {spoken_time(context.appointment)}.",)
            if context.appointment
            else ()
        )
        return (f"You're delivering to {context.destination}.", *appointment)
    if question is Question.APPOINTMENT:
        if context.appointment:
            return (f"Your appointment is {spoken_time(context.appointment)}.",)
        return ("I don't have an appointment time on file; your dispatcher will confirm it.",)
    if question is Question.ORIGIN:
        if context.origin:
            return (f"This load picked up in {context.origin}.",)
        return ("I don't have the pickup details in front of me.",)
    if question is Question.LOAD:
        if context.load_number:
            return (f"This is load {context.load_number}.",)
        return ("I don't have the load number in front of me.",)
    if question is Question.WHO:
        load = f" on load {context.load_number}" if context.load_number else ""
        return (f"This is the Dispatch assistant calling for your check-in{load}.",)
    return ()


def next_checkin_topic(state: CallState) -> Topic | None:
    """The one thing still missing from the check-in, None when it is complete."""
    if state.status is None:
        if state.heard_town is not None and state.heard_town.city not in state.towns_asked:
            return Topic.CONFIRM  # "concord": a town on the way, so likely driving; confirm it
        return Topic.STATUS
    if state.status in (DriverStatus.DRIVING, DriverStatus.DELAYED):
        if state.heard_town is not None and state.heard_town.city not in state.towns_asked:
            return Topic.CONFIRM  # "I have you near Tulsa, is that right?"
        if state.location is None:
            return Topic.LOCATION
        if not state.delay_reasons and not state.delay_answered_else:
            if _late(state):
                if state.delay_asks == 0:
                    return Topic.DELAY_REASON  # one question about why a late load is late
            elif state.status is DriverStatus.DELAYED:
                return Topic.DELAY_REASON
        if state.eta is None:
            return Topic.ETA
        return None
    if not state.unloading:
        return Topic.UNLOADING
    if not state.pod_answered:
        return Topic.POD
    return None


def _late(state: CallState) -> bool:
    return state.on_time is not None and state.on_time.status is OnTimeStatus.LATE


def _duration(minutes: int) -> str:
    """90 -> "an hour and a half", 240 -> "4 hours", 45 -> "45 minutes"."""
    if minutes < 60:
        return f"{minutes} minutes"
    half_hours = round(minutes / 30)
    hours, half = divmod(half_hours, 2)
    if half:
        return "an hour and a half" if hours == 1 else f"{hours} and a half hours"
    return "an hour" if hours == 1 else f"{hours} hours"


def _lateness(state: CallState, context: CallContext) -> str:
    late = state.on_time.minutes_late if state.on_time else None
    appointment = f"your {_appointment(context)} appointment"
    if late:
        return f"That puts you about {_duration(late)} past {appointment}."
    return f"That puts you past {appointment}."


def _confirm_question(state: CallState) -> str:
    town = state.heard_town.city if state.heard_town else "that"
    if state.location and state.location.highway:
        return f"I have you on {state.location.highway} near {town}, is that right?"
    return f"I have you near {town}, is that right?"


def _question(topic: Topic, state: CallState, context: CallContext) -> tuple[str, ...]:
    if topic is Topic.CONFIRM:
        return (_confirm_question(state),)
    if topic is Topic.DELAY_REASON and _late(state) and state.delay_asks == 0:
        return (_lateness(state, context), _PROBES[topic][0])
    probes = _PROBES[topic]
    attempt = min(state.unproductive_streak, len(probes) - 1)
    if topic is Topic.ETA and attempt == 0 and context.destination:
        return (f"What's your ETA to {context.destination}?",)
    if topic is Topic.POD and not state.pod_reminded:
        return ("One reminder: we need the signed proof of delivery for this load.", probes[0])
    return (probes[attempt],)


def _confirmation(state: CallState, context: CallContext) -> tuple[str, ...]:
    if state.status in (DriverStatus.ARRIVED, DriverStatus.UNLOADING):
        unloading = ", ".join(
            u.lower() if not u.startswith("Door") else u.lower() for u in state.unloading
        )
        pod = (
            ", and you'll send the POD"
            if state.pod_ack
            else ", and please send the POD when you can"
        )
        return (
            f"Thanks{_comma_name(context)}, I have you at the receiver, {unloading}{pod}.",
            "Have a good one.",
        )
    summary = [_where(state.location) if state.location else "on the road"]
    if state.status is DriverStatus.DELAYED and state.delay_reasons:
        summary.append(f"delayed by {' and '.join(map(_in_sentence, state.delay_reasons))}")
    if state.eta and state.eta.startswith("in "):
        summary.append(f"arriving {state.eta}")
    elif state.eta:
        summary.append(f"with an ETA of {state.eta}")
    return (
        f"Got it, I have you {', '.join(summary)}.",
        *_on_time_note(state, context),
        f"Thanks{_comma_name(context)}, drive safe.",
    )


def _appointment(context: CallContext) -> str:
    return spoken_time(context.appointment or "")


def _on_time_note(state: CallState, context: CallContext) -> tuple[str, ...]:
    """What the call record now says about the appointment (dispatch reads it on the board)."""
    if state.on_time is None:
        return ()
    if state.on_time.status is OnTimeStatus.LATE:
        late = state.on_time.minutes_late
        by = f" about {_duration(late)}" if late else ""
        return (
            f"I've noted you'll be{by} late for the {_appointment(context)} appointment,"
            " so dispatch can update the receiver.",
        )
    if state.on_time.status is OnTimeStatus.AT_RISK:
        return (
            f"That's cutting it close for the {_appointment(context)} appointment;"
            " I've flagged it for dispatch.",
        )
    return ()


def _in_sentence(label: str) -> str:
    """A result label inside a sentence: "Traffic" -> "traffic", "DOT inspection" kept."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def _acknowledgement(reading: Reading, state: CallState) -> tuple[str, ...]:
    if not reading.says_something or (reading.question and not reading.status):
        return ()
    if reading.delay_reasons and "Accident ahead" in reading.delay_reasons:
        return ("Okay, glad you're not involved.",)
    if reading.delay_reasons and state.status is DriverStatus.DELAYED:
        return ("Sorry about the delay.",)
    return ("Got it.",) if state.user_turns % 2 else ("Okay, thanks.",)


def _emergency_reply(context: CallContext, state: CallState, reading: Reading | None) -> Reply:
    already_escalating = sum(n for _, n in state.emergency_asks) > 0
    first_reply = reading is not None and reading.emergency is not None and not already_escalating
    opener: tuple[str, ...] = ()
    if first_reply and state.emergency is not None:
        # "Sorry to hear about the breakdown" is tone-deaf for a truck on fire.
        dangerous = state.in_danger and state.emergency is EmergencyType.BREAKDOWN
        opener = (
            ("That sounds dangerous.",) if dangerous else (_EMERGENCY_OPENERS[state.emergency],)
        )
    # A question mid-emergency ("where am I delivering?") gets its short answer, then safety.
    answer = _answer(reading.question, context) if reading and reading.question else ()
    opener = (*opener, *answer)
    topic = state.next_emergency_topic()
    if topic is None:
        return _handoff(context, state, reading, opener)
    if first_reply:
        opener = (*opener, "Your safety comes first.") if topic is Topic.SAFETY else opener
    elif opener:
        pass  # the answer to the driver's question leads
    elif reading is not None and reading.injury == "No injuries":
        opener = ("Good, glad nobody's hurt.",)
    elif reading is not None and reading.says_something:
        opener = ("Okay.",)
    variant = min(state.emergency_asked(topic), 1)
    return Reply(sentences=(*opener, _EMERGENCY_QUESTIONS[topic][variant]))


def _spoken_number(number: str) -> str:
    """How a person reads a callback number back: "+15551234567" -> "555 123 4567"."""
    digits = number.removeprefix("+1") if len(number) == 12 else number.removeprefix("+")
    if len(digits) == 10:
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    return " ".join(digits[i : i + 3] for i in range(0, len(digits), 3))


def _handoff(
    context: CallContext, state: CallState, reading: Reading | None, opener: tuple[str, ...]
) -> Reply:
    """The essentials are in (or someone is hurt): transfer, or have the office call back."""
    urgent = (_CALL_911,) if state.injured or state.in_danger else ()
    if context.has_transfer_line:
        return Reply(
            sentences=(
                *opener,
                *urgent,
                _STILL_CONNECTING if state.connecting_announced else _CONNECTING,
            ),
            transfer_number=context.transfer_number,
            alert_office=True,
        )
    first_911 = (_CALL_911_FIRST,) if state.injured or state.in_danger else ()
    callback = context.callback_number or state.callback_number
    at = f" at {_spoken_number(callback)}" if callback else ""
    if state.office_alerted and not state.emergency_goodbye_said:
        # The answer to the callback question (a number, or none).
        return Reply(
            sentences=(
                *opener,
                f"Thanks, a dispatcher will call you back right away{at}.",
                _GOODBYE_SAFE,
            ),
            end_call=True,
            alert_office=True,
        )
    if state.office_alerted:
        # The driver kept talking after the goodbye: answer briefly and end again.
        newly_hurt = reading is not None and (reading.injured or reading.unsafe)
        return Reply(
            sentences=(
                *opener,
                *(first_911 if newly_hurt else ()),
                f"{_OFFICE_HAS_IT}{at}.",
                _GOODBYE_SAFE,
            ),
            end_call=True,
            alert_office=True,
        )
    failed = (_TRANSFER_FAILED,) if state.connecting_announced else ()
    if callback is None and state.callback_asks < CALLBACK_ASK_LIMIT:
        return Reply(
            sentences=(*opener, *first_911, *failed, f"{_OFFICE_ALERTED}.", _CALLBACK_QUESTION),
            alert_office=True,
        )
    return Reply(
        sentences=(*opener, *first_911, *failed, f"{_OFFICE_ALERTED}{at}.", _GOODBYE_SAFE),
        end_call=True,
    )


def next_reply(context: CallContext, transcript: Sequence[Turn]) -> Reply:
    """What the agent says after the driver's latest turn."""
    return reply_for(context, follow(transcript, context))


def reply_for(context: CallContext, state: CallState) -> Reply:
    reading = state.last_reading
    if reading is None:
        return opening(context)
    if state.emergency is not None:
        return _emergency_reply(context, state, reading)
    if reading.garbled and not state.repeat_asked:
        return Reply(sentences=("Sorry, you cut out there.", "Could you say that again?"))
    if reading.question is Question.WRONG_PERSON:
        return Reply(
            sentences=("Sorry about that, I must have the wrong number.", "Have a good day."),
            end_call=True,
        )
    if state.gave_up:
        return Reply(
            sentences=(
                "No problem, I'll let you go for now.",
                "Please call dispatch back when you can give an update, and drive safe.",
            ),
            end_call=True,
        )
    answer = _answer(reading.question, context) if reading.question else ()
    ack = _acknowledgement(reading, state)
    topic = next_checkin_topic(state)
    if topic is None:
        return Reply(sentences=(*answer, *_confirmation(state, context)), end_call=True)
    return Reply(sentences=(*answer, *ack, *_question(topic, state, context)))


def reminder_reply(
    context: CallContext, transcript: Sequence[Turn], reminders_in_a_row: int
) -> Reply:
    """Retell's reminder_required: a short nudge; after three in a row, end (or hand over)."""
    state = follow(transcript, context)
    if reminders_in_a_row >= SILENCE_REMINDER_LIMIT:
        if state.emergency is not None and context.has_transfer_line:
            return Reply(
                sentences=(
                    "I'm not hearing you, so I'm getting a human dispatcher on the line.",
                    _CONNECTING,
                ),
                transfer_number=context.transfer_number,
                alert_office=True,
            )
        if state.emergency is not None:
            callback = context.callback_number or state.callback_number
            at = f" at {_spoken_number(callback)}" if callback else ""
            return Reply(
                sentences=(
                    "I'm not hearing you.",
                    _CALL_911_FIRST,
                    f"{_OFFICE_ALERTED}{at}.",
                    _GOODBYE_SAFE,
                ),
                end_call=True,
                alert_office=True,
            )
        return Reply(
            sentences=(SILENCE_GOODBYE, "Please call dispatch back when you can."), end_call=True
        )
    if reminders_in_a_row <= 1:
        return Reply(sentences=("Are you still there?",))
    if state.emergency is not None:
        topic = state.next_emergency_topic()
        if topic is None:
            handoff = _handoff(context, state, None, ())
            return dataclasses.replace(
                handoff, sentences=("I didn't hear anything.", *handoff.sentences)
            )
        return Reply(sentences=("I didn't hear anything.", _EMERGENCY_QUESTIONS[topic][0]))
    topic = state.topic if state.topic in _PROBES else next_checkin_topic(state)
    if topic is Topic.CONFIRM:
        question = _confirm_question(state)
    else:
        question = _PROBES[topic][0] if topic else "Can you give me a quick status update?"
    return Reply(sentences=("I didn't hear anything.", question))
