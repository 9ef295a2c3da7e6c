"""Properties that hold for any conversation, checked with generated transcripts."""

from __future__ import annotations

from dataclasses import fields, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import (
    CallContext,
    CallOutcome,
    CallResult,
    DriverStatus,
    EmergencyType,
    EscalationStatus,
    Turn,
    analyze,
    extract_result,
    next_reply,
    opening,
    reminder_reply,
    reply_and_result,
)

PHRASES = (
    "yeah i'm on i 40 near amarillo",
    "rolling on us 287 outside wichita falls",
    "95",
    "mile marker one twelve",
    "exit 140 at the loves",
    "should be there around 4 pm",
    "in like forty five minutes",
    "tomorrow morning",
    "14:30",
    "running late traffic is terrible",
    "construction on 40",
    "saw a wreck up ahead",
    "had a flat but it's fixed now back on the road",
    "i'm at the receiver",
    "waiting on a door",
    "in door 12 lumper's unloading",
    "been here 3 hours detention",
    "yeah will do",
    "nah",
    "i dunno",
    "whatever",
    "[inaudible]",
    "... [noise] ...",
    "where am i delivering",
    "what time is my appointment",
    "my truck broke down",
    "i just hit a car",
    "i'm having chest pains",
    "someone's trying to break into my trailer",
    "nobody's hurt",
    "i'm on the shoulder safe",
    "load's secure",
    "the load shifted",
    "yes",
    "no",
    "",
)
CONTEXTS = st.builds(
    CallContext,
    driver_name=st.one_of(st.none(), st.text(max_size=20), st.just("Maria Lopez")),
    load_number=st.one_of(st.none(), st.text(max_size=10)),
    origin=st.one_of(st.none(), st.just("Dallas, TX")),
    destination=st.one_of(st.none(), st.just("Phoenix, AZ")),
    appointment=st.one_of(st.none(), st.just("3 pm")),
    transfer_number=st.one_of(st.none(), st.just("+15550100200")),
    callback_number=st.one_of(st.none(), st.just("+15551234567")),
)
UTTERANCES = st.one_of(
    st.sampled_from(PHRASES),
    st.text(max_size=80),
    st.lists(st.sampled_from(PHRASES), min_size=2, max_size=3).map(" ".join),
)
ANY_TURNS = st.lists(
    st.builds(Turn, role=st.sampled_from(["agent", "user"]), content=st.text(max_size=120)),
    max_size=12,
)
COMMON = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _conversation(context: CallContext, utterances: list[str | None]) -> list[Turn]:
    """Plays the driver's utterances against the agent; None is a silent reminder."""
    transcript = [Turn("agent", opening(context).text)]
    silent = 0
    for said in utterances:
        if said is None:
            silent += 1
            reply = reminder_reply(context, transcript, silent)
        else:
            silent = 0
            transcript.append(Turn("user", said))
            reply = next_reply(context, transcript)
        transcript.append(Turn("agent", reply.text))
        if reply.end_call or reply.transfer_number:
            break
    return transcript


def _assert_in_vocabulary(result: CallResult) -> None:
    assert isinstance(result.call_outcome, CallOutcome)
    assert result.driver_status is None or isinstance(result.driver_status, DriverStatus)
    assert result.emergency_type is None or isinstance(result.emergency_type, EmergencyType)
    # Only the provider can say a human answered: the agent never records "connected".
    assert result.escalation_status is not EscalationStatus.TRANSFER_CONNECTED
    escalation = result.escalation_status
    assert escalation is None or isinstance(escalation, EscalationStatus)
    for flag in (result.pod_reminder_acknowledged, result.load_secure):
        assert flag in (None, True, False)
    for text in (
        result.current_location,
        result.eta,
        result.delay_reason,
        result.unloading_status,
        result.safety_status,
        result.injury_status,
        result.emergency_location,
    ):
        assert text is None or (isinstance(text, str) and text.strip())
    serialized = result.to_dict()
    assert serialized["call_outcome"] in {o.value for o in CallOutcome}


@COMMON
@given(context=CONTEXTS, turns=ANY_TURNS, reminders=st.integers(min_value=0, max_value=6))
def test_no_input_crashes_the_agent(
    context: CallContext, turns: list[Turn], reminders: int
) -> None:
    reply = next_reply(context, turns)
    assert reply.sentences and all(s.strip() for s in reply.sentences)
    nudge = reminder_reply(context, turns, reminders)
    assert nudge.sentences
    _assert_in_vocabulary(extract_result(context, turns))
    analysis = analyze(turns, ["traffic", "delay"])
    assert -1.0 <= analysis.sentiment <= 1.0
    assert analysis.user_turns + analysis.agent_turns == len(turns)


@COMMON
@given(
    context=CONTEXTS,
    utterances=st.lists(st.one_of(UTTERANCES, st.none()), min_size=1, max_size=10),
)
def test_every_result_field_stays_in_the_vocabulary(
    context: CallContext, utterances: list[str | None]
) -> None:
    transcript = _conversation(context, utterances)
    _assert_in_vocabulary(extract_result(context, transcript))


@COMMON
@given(context=CONTEXTS, utterances=st.lists(UTTERANCES, min_size=1, max_size=10))
def test_a_stated_fact_is_never_lost_as_the_transcript_grows(
    context: CallContext, utterances: list[str]
) -> None:
    transcript = _conversation(context, utterances)
    previous = extract_result(context, [])
    for end in range(1, len(transcript) + 1):
        current = extract_result(context, transcript[:end])
        for field in fields(CallResult):
            before = getattr(previous, field.name)
            # a new ETA re-judges the lateness: "actually make that 1 pm" is on time after all
            rejudged = field.name in ("call_outcome", "minutes_late")
            if not rejudged and before is not None:
                lines = "\n".join(f"{t.role}: {t.content}" for t in transcript[:end])
                assert getattr(current, field.name) is not None, f"{field.name} lost:\n{lines}"
        if previous.emergency_type is not None:
            assert current.emergency_type == previous.emergency_type
        previous = current


@COMMON
@given(context=CONTEXTS, utterances=st.lists(UTTERANCES, min_size=1, max_size=8))
def test_replies_and_results_are_deterministic(context: CallContext, utterances: list[str]) -> None:
    first = _conversation(context, utterances)
    assert _conversation(context, utterances) == first
    assert extract_result(context, first) == extract_result(context, tuple(first))
    for end in range(1, len(first) + 1):
        prefix = first[:end]
        together = reply_and_result(context, prefix)
        assert together == (next_reply(context, prefix), extract_result(context, prefix))


@COMMON
@given(
    context=CONTEXTS,
    scenario=st.one_of(st.none(), st.text(max_size=20), st.just("emergency")),
    utterances=st.lists(UTTERANCES, min_size=1, max_size=8),
)
def test_the_scenario_label_never_changes_what_the_agent_says_or_records(
    context: CallContext, scenario: str | None, utterances: list[str]
) -> None:
    labelled = replace(context, scenario=scenario)
    transcript = _conversation(context, utterances)
    assert _conversation(labelled, utterances) == transcript
    assert extract_result(labelled, transcript) == extract_result(context, transcript)


@COMMON
@given(
    context=CONTEXTS.map(lambda c: replace(c, transfer_number=None)),
    utterances=st.lists(st.one_of(st.none(), UTTERANCES), max_size=12),
)
def test_without_a_transfer_line_the_agent_never_promises_a_human(
    context: CallContext, utterances: list[str | None]
) -> None:
    transcript = _conversation(context, utterances)
    for turn in transcript:
        if turn.role == "agent":
            text = turn.content.lower()
            assert "connecting you" not in text and "stay on the line" not in text, text
            assert "transferring you" not in text, text
    result = extract_result(context, transcript)
    assert result.escalation_status in (None, EscalationStatus.CALLBACK_REQUESTED)


@COMMON
@given(
    context=CONTEXTS.map(lambda c: replace(c, transfer_number=None)),
    utterances=st.lists(UTTERANCES, min_size=1, max_size=6),
)
def test_an_emergency_without_a_transfer_line_ends_once_the_essentials_are_in(
    context: CallContext, utterances: list[str]
) -> None:
    """A crash, then anything at all: the agent ends the call within a bounded number of turns,
    and every turn the driver adds after its goodbye is answered with another goodbye."""
    transcript = _conversation(context, ["i just hit a car", *utterances, *(["ok"] * 12)])
    assert transcript[-1].role == "agent"
    last = next_reply(context, transcript[:-1])
    assert last.end_call and last.transfer_number is None
    after = [*transcript, Turn("user", "hello? is anyone there?")]
    again = next_reply(context, after)
    assert again.end_call and "call you back" in again.text
