"""Everything one driver utterance says, read next to the question it answers.

`read_user_turn` is the only place that looks at a driver's words; the conversation state
(`agent.state`) folds these readings over the transcript. All patterns run on normalized text
(`agent.text.normalize`) and are compiled once at import.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache, partial
from typing import TypeVar

from agent.places import Location, find_location
from agent.route import RouteTown, town_on_route
from agent.text import (
    GatedPattern,
    Utterance,
    is_garbled,
    mentions,
    normalize,
    utterance,
    words_of,
)
from agent.times import find_eta
from agent.topics import Topic
from agent.vocabulary import DriverStatus, EmergencyType

T = TypeVar("T")


class Question(StrEnum):
    DESTINATION = "destination"
    APPOINTMENT = "appointment"
    ORIGIN = "origin"
    LOAD = "load"
    WHO = "who"
    REPEAT = "repeat"
    WRONG_PERSON = "wrong_person"


@dataclass(frozen=True, slots=True)
class Emergency:
    kind: EmergencyType
    in_danger: bool  # someone is in danger right now: transfer at once


@dataclass(frozen=True, slots=True)
class Reading:
    """One user turn, interpreted. None means "this turn did not say"."""

    garbled: bool = False
    yes: bool = False
    no: bool = False
    question: Question | None = None
    emergency: Emergency | None = None
    status: DriverStatus | None = None
    location: Location | None = None
    eta: str | None = None
    delay_reasons: tuple[str, ...] = ()
    unloading: tuple[str, ...] = ()
    pod_ack: bool | None = None
    safety: str | None = None
    unsafe: bool = False
    injury: str | None = None
    injured: bool = False
    load_secure: bool | None = None
    not_there_yet: bool = False  # "still on the road": not at the receiver after all
    back_on_schedule: bool = False  # "made up the time": no longer delayed
    heard_town: Location | None = None  # a town on the route named without a cue or misheard
    misses_appointment: bool = False  # "i'm gonna miss my appointment"

    @property
    def says_something(self) -> bool:
        return bool(
            self.question
            or self.emergency
            or self.status
            or self.location
            or self.eta
            or self.delay_reasons
            or self.unloading
            or self.pod_ack is not None
            or self.safety
            or self.injury
            or self.load_secure is not None
            or self.not_there_yet
            or self.back_on_schedule
            or self.heard_town
        )


def _rx(pattern: str) -> GatedPattern | re.Pattern[str]:
    """Word-list patterns are gated by their words; anchored ones (^...) are cheap already."""
    return re.compile(pattern) if pattern.startswith("^") else GatedPattern(pattern)


_NEGATORS = frozenset(
    {"no", "not", "never", "without", "nothing", "didn't", "wasn't", "isn't", "ain't", "don't"}
    | {"nobody", "none", "zero", "dont", "didnt", "wasnt", "isnt", "aint", "haven't", "havent"}
)


_CONTRAST = frozenset({"just", "only", "but", "except", "besides", "apart"})


def _negated(text: str, start: int, window: int = 3) -> bool:
    """A negator among the words just before a match: "no accidents", "didn't break down".

    A contrast word ends the negation: in "no accident nothing just traffic" the traffic is real.
    """
    before = text[:start].split()[-window:]
    for index in range(len(before) - 1, -1, -1):
        if before[index] in _CONTRAST:
            before = before[index + 1 :]
            break
    return any(word in _NEGATORS for word in before)


def _find(
    pattern: GatedPattern | re.Pattern[str], text: str, window: int = 3
) -> re.Match[str] | None:
    """The first match of the pattern that is not negated."""
    if isinstance(pattern, GatedPattern):
        if not pattern.could_match(text):
            return None
        pattern = pattern.pattern
    for match in pattern.finditer(text):
        if not _negated(text, match.start(), window):
            return match
    return None


_NEAR_MISS = frozenset({"almost", "nearly", "coulda", "damn", "close"})


def _happened(pattern: GatedPattern | re.Pattern[str], text: str) -> re.Match[str] | None:
    """A crash that is not negated and not a near miss ("i almost wrecked", "nearly hit a car")."""
    match = _find(pattern, text)
    if match and any(word in _NEAR_MISS for word in text[: match.start()].split()[-2:]):
        return None
    return match


_YES = _rx(
    r"^(?:yes|yeah|yea|yep|yup|ya|sure|ok|okay|correct|affirmative|right|10 4|roger|copy|"
    r"absolutely|definitely|uh huh|mhm|will do|i will|i am|we are|i'm good|all good|it is|"
    r"you bet|of course|sounds good|got it|no problem|for sure|yes sir|yes ma'am)\b"
)
_NO = _rx(r"^(?:no|nope|nah|negative|not really|not yet|no sir|no ma'am|i'm not|it's not|not)\b")

_QUESTIONS: tuple[tuple[Question, GatedPattern | re.Pattern[str]], ...] = (
    (
        Question.WRONG_PERSON,
        _rx(
            r"\b(?:wrong number|wrong person|you have the wrong|you got the wrong|"
            r"no one (?:here )?by that name|nobody (?:here )?by that name|"
            r"don'?t know (?:anything|nothing) about (?:a|any|this|the) load|"
            r"i'?m not a (?:driver|trucker))"
        ),
    ),
    (
        Question.DESTINATION,
        _rx(
            r"where (?:am i|are we|do i|i'm|we're|is this|is it) ?"
            r"(?:even |actually |supposed to be )?"
            r"(?:delivering|going|headed|heading|dropping|taking|deliver|drop|going to)|"
            r"where(?:'s| is) (?:this|the|my) (?:load |delivery |drop )?(?:going|headed|deliver)|"
            r"(?:delivery|receiver'?s?|consignee) address|what'?s the address|"
            r"where (?:is|'s) (?:the )?(?:receiver|consignee|delivery|drop)|who am i delivering to|"
            r"remind me where|where(?:'s| is) it going"
        ),
    ),
    (
        Question.APPOINTMENT,
        _rx(
            r"what time(?: is|'s) (?:my|the|our) (?:appointment|appt|delivery)|"
            r"when(?: is|'s) (?:my|the|our) (?:appointment|appt|delivery)|"
            r"(?:appointment|appt) time|what time do (?:they|i|you) (?:need|want|expect)|"
            r"when do (?:i|they|you) (?:need|want|expect)|what(?:'s| is) my appointment|"
            r"when am i supposed to"
        ),
    ),
    (
        Question.ORIGIN,
        _rx(r"where did (?:i|we) pick up|where'?s the pick ?up|where (?:was|is) the shipper"),
    ),
    (Question.LOAD, _rx(r"what(?:'s| is) (?:the|my|this) load number|which load|what load")),
    (
        Question.WHO,
        _rx(
            r"who (?:is this|'s this|is calling|'s calling|are you)|"
            r"(?:is this|are you) (?:a )?(?:robot|bot|computer|real person|ai)"
        ),
    ),
    (
        Question.REPEAT,
        _rx(
            r"what did you say|say (?:that|it) again|come again|repeat (?:that|it|the question)|"
            r"didn'?t (?:catch|hear|get) (?:that|you|it)|^pardon|^what$|^huh$|^sorry what|"
            r"you'?re breaking up|can'?t hear you"
        ),
    ),
)

# --- emergencies -------------------------------------------------------------------------
_ACCIDENT = _rx(
    r"\b(?:accident|crash(?:ed)?|wreck(?:ed)?|collision|rear ended|rolled (?:over|it|the truck)|"
    r"jack ?knifed?|sideswiped?|t boned|ran off the road|went off the road|in the ditch|"
    r"hit (?:a |an |the |another |some )?(?:deer|car|truck|vehicle|pole|guard ?rail|rail|wall|"
    r"barrier|median|bridge|cow|tree|pedestrian|person|van|suv|pickup|semi|moose|elk|sign)|"
    r"hit by|hit me|got hit|been hit|flipped)\b"
)
_BREAKDOWN = _rx(
    r"\b(?:broke down|broken down|breakdown|blow ?out|blew (?:a|my|the) (?:tire|steer|drive)|"
    r"blew out (?:a|my|the)|(?:had|got|have) a flat|"
    r"blown tire|flat tire|(?:engine|motor|truck) (?:just |totally |completely )?"
    r"(?:died|quit|failed|blew|shut (?:down|off)|"
    r"overheat\w*|is smoking|won'?t start|is dead|just died)|won'?t start|"
    r"brakes? (?:went out|failed|are gone|gone out|locked up|are out)|lost (?:my |the )?brakes|"
    r"transmission (?:went|failed|is (?:out|gone|shot))|lost power|stalled|dead battery|"
    r"broke an axle|axle broke|air line|mechanical (?:problem|issue|failure)|on fire|"
    r"fire in|flames|smoke (?:coming|pouring|everywhere)|caught fire)\b"
)
_MEDICAL = _rx(
    r"\b(?:chest pains?|heart attack|can'?t breathe|trouble breathing|passed out|blacked out|"
    r"(?:hard|tough) time breathing|can'?t (?:catch|get) my breath|short of breath|"
    r"chest (?:is |feels |'s )?(?:real |really |so |very |all )?(?:tight|hurts|hurting|pain)|"
    r"my heart (?:is |'s )?(?:racing|pounding)|"
    r"(?:gonna|going to|about to) pass out|"
    r"seizure|stroke|diabetic|allergic reaction|unconscious|collapsed|numb|really dizzy|"
    r"(?:feel|feeling|i'm|im) (?:really )?(?:sick|dizzy|faint)(?! of)|throwing up|"
    r"medical emergency|"
    r"need an ambulance|call an ambulance|bleeding bad)\b"
)
_OTHER_DANGER = _rx(
    r"\b(?:stolen|stole|steal|theft|robbed|robbery|break in|broke into|breaking into|"
    r"broken into|break into|trying to (?:get|break) in(?:to)?|gun|knife|threaten\w*|"
    r"following me|being followed|"
    r"attacked|hijack\w*|cut (?:the|my) seal|seal (?:is |was )?(?:cut|broken)|somebody in my|"
    r"someone in my|got in a fight|trying to fight|assault\w*)\b"
)
_DANGER_NOW = _rx(
    r"\b(?:trapped|pinned|stuck in the (?:cab|truck)|can'?t get out|on fire|fire in|flames|"
    r"caught fire|"
    r"gun|knife|trying to (?:get|break) in|following me|being followed|attacked|"
    r"still here|they'?re here|help me|need help now|"
    r"in the (?:middle of the |right |left |center |fast |slow )?(?:road|lane)|"
    r"blocking (?:the )?(?:lane|road|traffic)|chest pains?|heart attack|can'?t breathe|"
    r"passed out|unconscious|seizure|stroke|bleeding)"
)
_WITNESSED = _rx(
    r"\b(?:saw|seen|see|witnessed|ahead|up ahead|in front of (?:me|us)|passed|passing|"
    r"traffic from|backed up|there'?s (?:an?|a bad|some) (?:accident|wreck|crash)|"
    r"there was (?:an?|a bad) (?:accident|wreck|crash)|somebody else|someone else|"
    r"other (?:car|truck|guy|driver)s?|cops (?:are|got)|lanes? (?:closed|blocked)|"
    r"on the other side|southbound side|northbound side)\b"
)
# Someone else's crash, or an old one: small talk, neither an emergency nor a delay.
_HEARSAY = _rx(
    r"\b(?:my (?:buddy|friend|brother|cousin|wife|husband)|yesterday|last (?:week|month|year)|"
    r"on the news|on the radio|years? ago)\b"
)
_OLD_NEWS = _rx(r"\b(?:yesterday|last (?:week|month|year)|on the (?:news|radio)|years? ago)\b")
_ME_INVOLVED = _rx(
    r"\b(?:i hit|i crashed|hit me|rear ended me|i got hit|we got hit|i rolled|i jack|"
    r"i'?m in the ditch|i went off|i ran off|i wrecked|i flipped|"
    r"(?:my truck|my trailer|my rig|i) (?:got |was |just )?(?:hit|rear ended|sideswiped|rolled|"
    r"jack ?knifed|flipped|crashed|wrecked)|"
    r"i was in an? (?:accident|wreck)|i'?ve been in|we'?ve been in|i'?m hurt|i got in an?|"
    r"i had an? (?:accident|wreck)|i just had an? (?:accident|wreck)|i was hit|hit my)\b"
)
_SAW_SOMEONE_ELSE = _rx(r"\b(?:saw|seen|passed|passing|watched|watching|some guy|a guy)\b")
_SOMEONE_ELSES = _rx(
    r"\b(?:my (?:buddy|friend|brother|cousin|partner|team ?mate)|another (?:truck|driver|guy)|"
    r"(?:ahead|in front) of (?:me|us)|up ahead|other (?:truck|driver|guy)|somebody else|"
    r"someone else)\b"
)
_MY_BREAKDOWN = _rx(
    r"\b(?:my (?:truck|rig|engine|tire|trailer|brakes|transmission|steer|drive)|"
    r"i'?m (?:broke|broken)|i (?:broke|blew|lost|got a flat|have a flat)|we (?:broke|blew)|"
    r"(?:quit|died|failed|blew) on me)"
)
_FIXED = _rx(
    r"\b(?:fixed|repaired|got it changed|changed it|changed the tire|patched|all good now|"
    r"back on the road|back rolling|rolling again|moving again|on my way again|"
    r"road service (?:came|fixed|got)|took care of it|taken care of|good to go|replaced)\b"
)

# --- check-in ----------------------------------------------------------------------------
_UNLOADING_NOW = _rx(
    r"\b(?:unloading|being unloaded|getting unloaded|unload(?:ing)? me|in (?:a |the )?door|"
    r"at door|in door|backed (?:in|into)|bumped (?:in|into|a door)|in (?:a |the )?dock|"
    r"lumpers? (?:is|are|'s) (?:unloading|working|on it|pulling)|"
    r"(?:taking|pulling) (?:it|the load|the freight) off|all unloaded|done unloading|"
    r"finished unloading|empty now|i'm empty|got me in)\b"
)
_ARRIVED = _rx(
    r"\b(?:arrived|i'?m here|we'?re here|just got here|got here|made it|pulled in|checked in|"
    r"pulling in(?:to)? (?:the )?(?:receiver|consignee|customer|dc|warehouse|dock|yard)|"
    r"in the yard|at the gate|at the guard shack|waiting (?:for|on) (?:a |the |my )?(?:door|dock|"
    r"lumper)|waiting to (?:unload|get unloaded|be unloaded|get in|back in)|here at|"
    r"at the (?:receiver|receiving|consignee|dock|docks|facility|warehouse|customer|dc|"
    r"distribution center|delivery)|sitting at the (?:receiver|dock|customer))\b"
)
# Places on the way where "pulled in" or "sitting here at" does not mean the receiver.
_EN_ROUTE_STOP = _rx(
    r"\b(?:weigh station|scales?|inspection|truck stop|rest (?:area|stop)|fuel (?:stop|island)|"
    r"(?:repair|tire) shop|pilot|loves|ta|petro|flying j)\b"
)
_AT_RECEIVER = _rx(
    r"\b(?:receiver|receiving|consignee|customer|dc|distribution center|warehouse|facility|"
    r"doors?|docks?|lumpers?|delivery)\b"
)
# The driver correcting an arrival the agent assumed: "no, I'm still on the road".
_NOT_THERE_YET = _rx(
    r"\b(?:still (?:on the road|driving|rolling|en route|(?:a few |\d+ )?(?:miles|hours?) "
    r"(?:out|away))|not there yet|not (?:at the|to the) (?:receiver|customer|consignee)|"
    r"haven'?t (?:got|gotten|made it) (?:there|in)|haven'?t arrived|not even there)"
)
# Delayed sticks until the driver clearly says the lost time is made up.
_BACK_ON_SCHEDULE = _rx(
    r"\b(?:back on (?:schedule|time|track)|made up (?:the|some|my|that) time|caught (?:back )?up|"
    r"(?:not|no longer) (?:running )?(?:late|behind) (?:anymore|now)|on time now|"
    r"(?:should|will|gonna|going to) make (?:it|the appointment|my appointment) on time)"
)
_DELAYED = _rx(
    r"\b(?:running (?:late|behind)|behind schedule|late|delayed|delay|stuck|held up|"
    r"lost (?:about |like |maybe |almost |over )?(?:an|a|\d+|a couple|couple)(?: of)? "
    r"(?:hours?|hrs?|minutes?)|"
    r"(?:hours?|hrs?|minutes?|mins?|bit|little|while) behind|running (?:\w+ ){1,4}behind|"
    r"won'?t make|not gonna make|not going to make|can'?t make|gonna miss|going to miss|"
    r"slowed (?:down|up)|backed up|sitting in traffic|crawling|at a standstill)\b"
)
_ON_SCHEDULE = _rx(
    r"\b(?:on time|on schedule|no delays?|not late|no problems?|should (?:still )?make it|"
    r"ahead of schedule|early|all good|smooth)"
)
_DRIVING = _rx(
    r"\b(?:driving|rolling|on the road|headed|heading|en route|on my way|moving|cruising|"
    r"trucking|making good time|going good|miles out|on the interstate|on the highway|"
    r"just left|left the)\b"
)

_DELAY_REASONS: tuple[tuple[str, GatedPattern | re.Pattern[str]], ...] = (
    (
        "Traffic",
        _rx(
            r"\b(?:traffic|backed up|bumper to bumper|congestion|gridlock|rush hour|"
            r"stop and go|crawling|at a standstill)"
        ),
    ),
    (
        "Construction",
        _rx(r"\b(?:construction|road ?work|lane closure|lanes? (?:closed|shut)|work zone|detour)"),
    ),
    (
        "Weather",
        _rx(
            r"\b(?:snow\w*|ice|icy|rain|raining|rainy|storms?|fog|foggy|wind|windy|winds|blizzard|hail|tornado|"
            r"flood\w*|weather|chain law|chains? up|whiteout|sleet)\b"
        ),
    ),
    ("Road closure", _rx(r"\b(?:road closed|roads? (?:is |are )?closed|closure|shut down the)")),
    (
        "DOT inspection",
        _rx(
            r"\b(?:(?<!on the )dot|inspection|inspected|weigh station|scales?|"
            r"level (?:1|one|2|3))\b"
        ),
    ),
    (
        "Mechanical issue",
        _rx(
            r"\b(?:(?:check )?engine light|warning light|(?:to|at|in) the (?:shop|dealer)|mechanic|"
            r"getting (?:it|the truck) (?:looked at|fixed|worked on)|in the shop)\b"
        ),
    ),
    ("Fuel stop", _rx(r"\b(?:fuel\w*|gas(?:sing)? up|getting gas|diesel|refuel\w*)\b")),
    (
        "Hours-of-service break",
        _rx(
            r"\b(?:hours of service|10 hour|34 hour|out of hours|hos\b|my break|on break|"
            r"(?:take|taking|on|doing|start|starting) my (?:10|34)\b|"
            r"taking a break|reset|logs? (?:ran|run) out|ran out of hours|out of time on my clock)"
        ),
    ),
    (
        "Late loading at the shipper",
        _rx(
            r"\b(?:loaded late|late loading|shipper (?:was|took|had|held)|"
            r"held (?:me|us) at the shipper|took forever to load|"
            r"slow (?:at|loading) (?:the )?shipper|waited at the shipper|load wasn'?t ready|"
            r"still at the shipper|at the shipper still|haven'?t (?:loaded|finished loading) me|"
            r"(?:had|kept|held) (?:me|us) (?:waiting |sitting )?at the shipper|"
            r"waiting at the shipper|held (?:me |us )?up at the shipper|"
            r"(?:still|waiting to get) loading|not loaded yet)"
        ),
    ),
)
_FIXED_PROBLEMS: tuple[tuple[str, GatedPattern | re.Pattern[str]], ...] = (
    ("Tire blowout, repaired", _rx(r"\b(?:blow ?out|blew (?:a|my|the|out) \w*|blown tire)")),
    ("Flat tire, repaired", _rx(r"\bflat\b")),
    ("Tire problem, repaired", _rx(r"\btires?\b")),
    ("Mechanical problem, fixed", _rx(r"")),
)
_STILL_ON_SCHEDULE = _rx(r"\b(?:on schedule|on time|ahead of schedule|not late|no delays?)\b")
# Parts a driver has fixed on the way: "replaced my steer tire", "they fixed the air line".
_REPAIRABLE = _rx(
    r"\b(?:tires?|steer|hose|air ?lines?|brakes?|alternator|belt|starter|battery|reefer|"
    r"injector|sensor|radiator|headlight|lights?|mud ?flap)\b"
)

_DOOR = _rx(r"\b(?:door|dock|bay)\s(?:number\s)?(\d{1,3}[a-z]?)\b")
_WAITING_DOOR = _rx(
    r"\b(?:waiting (?:for|on) (?:a |the |my )?(?:door|dock|bay)|waiting to (?:unload|get unloaded|"
    r"be unloaded|get in|back in)|no doors?|doors? (?:are )?full|haven'?t (?:got|gotten) a door|"
    r"no (?:docks?|bays?)(?: open| available| free)?|(?:docks?|doors?) (?:are )?(?:busy|taken)|"
    r"waiting on (?:it|one|them)|"
    r"no door yet|not in a door|(?:don'?t|didn'?t|doesn'?t) (?:have|got|give me) (?:a |me a )?door|"
    r"door (?:isn'?t|is not|ain'?t) (?:open|ready|free))"
)
_LUMPER_WAIT = _rx(r"\bwaiting (?:for|on) (?:a |the )?lumpers?")
_LUMPER = _rx(r"\blumpers?\b")
_DETENTION = _rx(
    r"\b(?:detention|been (?:here|waiting|sitting)(?: here)? (?:for )?(?:like |about |over )?"
    r"(\d+|an?|a couple(?: of)?|couple) (hours?|hrs?|minutes?))"
)
_UNLOADED = _rx(r"\b(?:all unloaded|done unloading|finished unloading|empty now|i'?m empty)")

_POD_YES = re.compile(
    r"\b(?:will do|i will|i'll (?:send|get|do|take|snap|scan)|sure|yes|yeah|yep|ok|okay|"
    r"got it|no problem|10 4|roger|copy|sounds good|you got it|already (?:sent|did)|for sure|"
    r"absolutely|definitely)\b"
)
_POD_NO = _rx(
    r"\b(?:can'?t|won'?t|don'?t have|didn'?t (?:get|give)|not gonna|no way|nope|they won'?t)\b"
    r"|^no\b"
)

_SAFE = _rx(
    r"\b(?:i'?m (?:safe|ok|okay|fine|alright|good)|we'?re (?:safe|ok|okay|fine)|safe|"
    r"pulled over|on the shoulder|off the road|off to the side|in a parking lot|out of the truck|"
    r"got out|hazards on|flashers on|triangles out|in a safe spot|at a truck stop|in the lot)"
)
_SAFETY_DETAILS = (
    ("pulled over", _rx(r"\bpulled over\b")),
    ("on the shoulder", _rx(r"\bon the shoulder\b")),
    ("off the road", _rx(r"\boff (?:the road|to the side)\b")),
    ("out of the truck", _rx(r"\b(?:out of the truck|got out)\b")),
    ("hazards on", _rx(r"\b(?:hazards|flashers) on\b")),
    ("triangles out", _rx(r"\btriangles out\b")),
    ("at a truck stop", _rx(r"\b(?:at a truck stop|in the lot|in a parking lot)\b")),
)
_UNSAFE = _rx(
    r"\b(?:not safe|unsafe|"
    r"in the (?:middle of the |right |left |center |fast |slow )?(?:road|lane)|"
    r"still in (?:the )?(?:lane|road|"
    r"traffic)|blocking (?:the )?(?:lane|road|traffic)|trapped|pinned|can'?t get out|"
    r"stuck in the (?:cab|"
    r"truck)|on fire|flames|still here|they'?re here|following me|help me)"
)
_NO_INJURY = _rx(
    r"\b(?:nobody(?:'s| is|s)? (?:hurt|injured)|no one(?:'s| is|s)? (?:hurt|injured)|"
    r"no ?body got hurt|no one got hurt|no injur\w*|not hurt|not injured|everybody'?s? (?:ok|fine)|"
    r"everyone'?s? (?:ok|fine|safe)|nobody'?s hurt|i'?m not hurt|didn'?t get hurt|no one hurt|"
    r"nobody hurt|we'?re all (?:ok|fine)|"
    r"don'?t think (?:any|some)(?:one|body)'?s? (?:is |got )?hurt)"
)
_ONLY_FINE = _rx(r"^(?:ok|okay|fine|good|all good|alright|we'?re good|i'?m good)$")
_INJURY = _rx(
    r"\b(?:hurt|injured|injury|injuries|bleeding|broke my|"
    r"broken (?:arm|leg|rib|ribs|wrist|ankle|hand|foot|nose|neck|back)|"
    r"(?:arm|leg|ribs?|wrist|ankle|hand|foot|nose|neck|back)(?: is|'s)? (?:broken|broke)|"
    r"hit (?:his|her|their|our) heads?|"
    r"can'?t move my|i can'?t move\b(?! the)|"
    r"hit my head|pain|ambulance|unconscious|passed out|cut my|bruised|concussion)"
)
_LOAD_OK = _rx(
    r"\b(?:load(?:'s| is)? (?:secure|fine|ok|okay|good|intact|safe)|secure|secured|"
    r"trailer(?:'s| is) (?:fine|ok|okay|good|locked|sealed)|still sealed|seal(?:'s| is)? "
    r"(?:intact|good|on)|nothing spilled|(?:freight|cargo)(?:'s| is) (?:fine|ok|good)|locked up|"
    r"didn'?t shift|load held)"
)
_LOAD_BAD = _rx(
    r"\b(?:spill\w*|shifted|on (?:its|it'?s) side|"
    r"all over the (?:road|lane|highway|shoulder|place)|"
    r"(?:pallets?|boxes|freight|cargo|load) (?:fell|came|went|is|are|got) "
    r"(?:over|off|down|out|loose)|"
    r"tipped over|busted open|everywhere|stolen|stole|"
    r"took (?:some|the|my)|seal (?:is |was )?(?:broken|cut)|cut (?:the|my) seal|"
    r"doors? (?:are |is )?open|not secure|lost (?:some|part)|damaged|leaking|broke into|"
    r"broken into)"
)

# The proof of delivery mentioned before the agent reminds: "i'll send the pod when i'm empty".
_POD_MENTION = _rx(
    r"\b(?:pod|proof of delivery|paperwork|bills? of lading|bol|signed bills?|delivery receipt)\b"
)
_POD_PROMISE = _rx(
    r"\b(?:i'?ll (?:send|get|snap|scan|take|upload|email|text)|i will (?:send|get|snap|scan)|"
    r"(?:will|gonna|going to) (?:send|snap|scan|upload)|already (?:sent|sent it|did)|"
    r"(?:sending|snapping|scanning|uploading) (?:it|the|a|you))"
)
_MISSES_APPOINTMENT = _rx(
    r"\b(?:(?:won'?t|not gonna|not going to|can'?t|ain'?t gonna) make (?:it|the|my|that) ?"
    r"(?:appointment|appt|window|on time)?|(?:gonna|going to|will|i'?ll) miss (?:my|the|that) "
    r"(?:appointment|appt|window)|(?:gonna|going to|will) be late)"
)

_CLAUSE_SPLIT = re.compile(r"\b(?:and|but|so|because|cause|cuz)\b")
_RAW_CLAUSE_SPLIT = re.compile(r"[,.;!?]+")
_LEADING_CHATTER = re.compile(r"^(?:(?:yeah|yes|so|well|oh|man|hey|ok|okay|look|listen|god)\b\s*)+")
_EVASIVE = _rx(
    r"^(?:(?:eh|meh|well|oh) )?(?:i (?:don'?t|dunno) know|dunno|i dunno|no idea|not sure|"
    r"doesn'?t matter|whatever|stuff|things|same as always|you know how it is|it is what it is|"
    r"why|who cares|how it (?:is|goes)|it happens|stuff happens|just because|no reason)"
)


_EMERGENCY_WORDS = words_of(_ACCIDENT, _MEDICAL, _OTHER_DANGER, _BREAKDOWN)
_DELAY_WORDS = words_of(
    _ACCIDENT, _BREAKDOWN, _REPAIRABLE, *(pattern for _, pattern in _DELAY_REASONS)
)
_STATUS_WORDS = words_of(_UNLOADING_NOW, _ARRIVED, _DELAYED, _DRIVING, _ON_SCHEDULE)
_UNLOADING_WORDS = words_of(
    _DOOR, _WAITING_DOOR, _LUMPER_WAIT, _LUMPER, _DETENTION, _UNLOADED, _UNLOADING_NOW
)
_QUESTION_WORDS = words_of(*(pattern for _, pattern in _QUESTIONS))


def _clause_with(raw: str, pattern: GatedPattern | re.Pattern[str]) -> str:
    """The driver's own clause that holds a match, trimmed for a result field."""
    for sentence in _RAW_CLAUSE_SPLIT.split(raw):
        for clause in _CLAUSE_SPLIT.split(normalize(sentence)):
            if pattern.search(clause):
                return _LEADING_CHATTER.sub("", clause.strip())[:80]
    return normalize(raw)[:80]


def _emergency(text: str) -> Emergency | None:
    if not mentions(_EMERGENCY_WORDS, text):
        return None
    danger = bool(_find(_DANGER_NOW, text))
    if _happened(_ACCIDENT, text) and (
        _ME_INVOLVED.search(text) or not (_WITNESSED.search(text) or _HEARSAY.search(text))
    ):
        return Emergency(EmergencyType.ACCIDENT, in_danger=danger)
    # Symptoms are negated right before them ("no chest pains"); "not feeling good, chest
    # pains" is not a negation of the pains.
    if _find(_MEDICAL, text, window=1):
        return Emergency(EmergencyType.MEDICAL, in_danger=True)
    if _find(_OTHER_DANGER, text):
        return Emergency(EmergencyType.OTHER, in_danger=danger)
    if (
        _find(_BREAKDOWN, text)
        and not _find(_FIXED, text)
        and (
            _MY_BREAKDOWN.search(text)
            or not (_SAW_SOMEONE_ELSE.search(text) or _SOMEONE_ELSES.search(text))
        )
    ):
        return Emergency(EmergencyType.BREAKDOWN, in_danger=danger)
    return None


def _delay_reasons(text: str, topic: Topic, *, answered_else: bool = False) -> tuple[str, ...]:
    reasons: list[str] = []
    if not mentions(_DELAY_WORDS, text) and topic is not Topic.DELAY_REASON:
        return ()
    if (
        _happened(_ACCIDENT, text)
        and _WITNESSED.search(text)
        and not _ME_INVOLVED.search(text)
        and not _HEARSAY.search(text)
    ):
        reasons.append("Accident ahead")
    fixed = bool(_find(_FIXED, text)) and bool(_find(_BREAKDOWN, text) or _REPAIRABLE.search(text))
    if fixed and not _STILL_ON_SCHEDULE.search(text):  # fixed and on time: not a delay
        reasons.append(next(label for label, rx in _FIXED_PROBLEMS if rx.search(text)))
    elif (
        _find(_BREAKDOWN, text)
        and _SOMEONE_ELSES.search(text)
        and not _MY_BREAKDOWN.search(text)
        and not _OLD_NEWS.search(text)
    ):
        reasons.append("Breakdown ahead")
    for label, pattern in _DELAY_REASONS:
        if _find(pattern, text) and not (fixed and label == "Mechanical issue"):
            reasons.append(label)
    if (
        not reasons
        and topic is Topic.DELAY_REASON
        and not answered_else
        and len(text.split()) >= 2
        and not _EVASIVE.search(text)
        and not _NO.search(text)
    ):
        reasons.append(text[:60].capitalize())  # the driver's own words
    return tuple(reasons)


def _status(text: str, has_road: bool, delays: tuple[str, ...]) -> DriverStatus | None:
    if not (has_road or delays or mentions(_STATUS_WORDS, text)):
        return None
    if _find(_UNLOADING_NOW, text) and not _WAITING_DOOR.search(text):
        return DriverStatus.UNLOADING
    if _find(_ARRIVED, text) and (not _EN_ROUTE_STOP.search(text) or _AT_RECEIVER.search(text)):
        return DriverStatus.ARRIVED
    if (_find(_DELAYED, text) or delays) and not _ON_SCHEDULE.search(text):
        return DriverStatus.DELAYED
    if _find(_DRIVING, text) or has_road or _ON_SCHEDULE.search(text):
        return DriverStatus.DRIVING
    return None


def _unloading(text: str, topic: Topic, no: bool) -> tuple[str, ...]:
    parts: list[str] = []
    if not mentions(_UNLOADING_WORDS, text) and not (topic is Topic.UNLOADING and no):
        return ()
    if match := _DOOR.search(text):
        parts.append(f"Door {match.group(1).upper()}")
    if _WAITING_DOOR.search(text) or (topic is Topic.UNLOADING and no and not parts):
        parts.append("Waiting for a door")
    if _LUMPER_WAIT.search(text):
        parts.append("Waiting for a lumper")
    elif _find(_LUMPER, text):
        parts.append("Lumper unloading")
    if match := _find(_DETENTION, text):
        if match.group(1):
            amount = {"a": "1", "an": "1"}.get(match.group(1), match.group(1))
            amount = "2" if "couple" in amount else amount
            parts.append(f"Detention ({amount} {match.group(2)})")
        else:
            parts.append("Detention")
    if _UNLOADED.search(text):
        parts.append("Unloaded")
    elif not parts and _find(_UNLOADING_NOW, text):
        parts.append("Unloading")
    return tuple(parts)


def _safety(raw: str, text: str, topic: Topic, yes: bool, no: bool) -> tuple[str | None, bool]:
    if _find(_UNSAFE, text):
        return "Not safe: " + _clause_with(raw, _UNSAFE), True
    if topic is Topic.SAFETY and no and not _find(_SAFE, text):
        return "Not safe", True
    if _find(_SAFE, text) or (topic is Topic.SAFETY and yes):
        details = [label for label, rx in _SAFETY_DETAILS if rx.search(text)]
        return ("Safe, " + ", ".join(details)) if details else "Safe", False
    return None, False


def _injury(raw: str, text: str, topic: Topic, yes: bool, no: bool, medical: bool) -> str | None:
    fine = _ONLY_FINE.search(text)
    if _NO_INJURY.search(text) or (topic is Topic.INJURY and (no or fine or _SAFE.search(text))):
        return "No injuries"
    if medical:
        return "Medical: " + _clause_with(raw, _MEDICAL)
    if _find(_INJURY, text):
        return "Injured: " + _clause_with(raw, _INJURY)
    if topic is Topic.INJURY and yes:
        return "Injured"
    return None


def _load_secure(text: str, topic: Topic, yes: bool, no: bool) -> bool | None:
    if _find(_LOAD_BAD, text):
        return False
    if _find(_LOAD_OK, text):
        return True
    if topic is Topic.LOAD_SECURE:
        if yes:
            return True
        if no:
            return False
    return None


# Retell resends the whole transcript every turn; memoizing this pure reading of one utterance
# (its result is immutable) makes each turn cost only its new words.
# "i'll send it soon as i'm empty": what will happen is not what is happening.
_FUTURE_CLAUSE = re.compile(
    r"\b(?:soon as|as soon as|when|once|after|until|till|til) (?:i'?m|i am|we'?re|they'?re) "
    r"(?:empty|unloaded|done|finished)\b"
)
# "they had me waiting at the shipper all morning": where the delay began, not where they are.
_PAST_AT_SHIPPER = re.compile(
    r"\b(?:had|kept|held) (?:me|us)|\bheld up\b|\bwaited\b|all morning|this morning|earlier|"
    r"loaded (?:me )?late"
)


def _without_future_clauses(text: str) -> str:
    if "empty" not in text and "unloaded" not in text and "done" not in text:
        return text
    return Utterance(_FUTURE_CLAUSE.sub(" ", text)) if _FUTURE_CLAUSE.search(text) else text


def _without_past_shipper(location: Location | None, text: str) -> Location | None:
    if location is None or location.facility != "shipper" or not _PAST_AT_SHIPPER.search(text):
        return location
    left = replace(location, facility=None)
    return None if left == Location() else left


# "3:30, no wait, more like 4:30": what follows the last of these replaces what came before
_CORRECTION = re.compile(
    r"\b(?:no wait|wait no|actually|i meant|sorry|scratch that|correction|more like|"
    r"make (?:that|it)|change (?:that|it) to|rather)\b"
)


def _corrected(text: str, find: Callable[[str], T | None]) -> T | None:
    """What `find` reads in the text, the part after a correction first."""
    whole = find(text)
    if whole is None or not _CORRECTION.search(text):
        return whole
    tail = text[list(_CORRECTION.finditer(text))[-1].start() :]  # "make that 4" keeps its cue
    newer = find(Utterance(tail.strip())) if tail.strip() else None
    if newer is None:
        return whole
    if isinstance(newer, Location) and isinstance(whole, Location):
        return newer.merged_over(find(Utterance(text[: len(text) - len(tail)])))  # type: ignore[return-value]
    return newer


def _answers_through_noise(text: str, topic: Topic) -> bool:
    """ "[noise] around four" after "what's your ETA?" is the answer, noise and all."""
    if topic is Topic.ETA:
        return find_eta(text, expecting_eta=True) is not None
    if topic is Topic.LOCATION:
        return find_location(text, expecting_location=True) is not None
    return False


def _pod_ack(text: str, topic: Topic) -> bool | None:
    if topic is Topic.POD:
        return False if _POD_NO.search(text) else True if _POD_YES.search(text) else None
    if not _POD_MENTION.search(text):
        return None
    if _POD_PROMISE.search(text):
        return True
    return False if _find(_POD_NO, text) else None


def _with_route_town(
    text: str, location: Location | None, topic: Topic, towns: tuple[RouteTown, ...]
) -> tuple[Location | None, Location | None]:
    """The location with a small town on the route said outright, and a town only heard."""
    if not towns or (location is not None and (location.city or location.facility)):
        return location, None
    whole_answer = topic is Topic.LOCATION and len(text.split()) <= 4
    found = town_on_route(text, towns, whole_answer=whole_answer)
    if found is None:
        return location, None
    town, sure = found
    if sure:
        return replace(location or Location(), city=town.city, state=town.state), None
    return location, Location(city=town.city, state=town.state)


@lru_cache(maxsize=8192)
def read_user_turn(
    content: str, topic: Topic, *, in_emergency: bool, towns: tuple[RouteTown, ...] = ()
) -> Reading:
    """Interpret one driver utterance given the question it answers and the call's mode.

    `towns`: the towns along the load's route (`agent.route.route_towns`), for place names said
    without a cue or misheard by speech-to-text.
    """
    text = utterance(content)
    if is_garbled(content, text) and not _answers_through_noise(text, topic):
        return Reading(garbled=True)
    yes = bool(_YES.search(text))
    no = bool(_NO.search(text)) and not yes
    question = (
        next((q for q, rx in _QUESTIONS if rx.search(text)), None)
        if mentions(_QUESTION_WORDS, text)
        else None
    )
    emergency = _emergency(text)
    if in_emergency or emergency:
        safety, unsafe = _safety(content, text, topic, yes, no)
        medical = bool(emergency and emergency.kind is EmergencyType.MEDICAL)
        injury = _injury(content, text, topic, yes, no, medical)
        return Reading(
            yes=yes,
            no=no,
            question=question,
            emergency=emergency,
            location=find_location(text, expecting_location=topic is Topic.LOCATION),
            safety=safety,
            unsafe=unsafe,
            injury=injury,
            injured=bool(injury and injury != "No injuries"),
            load_secure=_load_secure(text, topic, yes, no),
        )
    text = _without_future_clauses(text)
    location = _without_past_shipper(
        _corrected(text, partial(find_location, expecting_location=topic is Topic.LOCATION)), text
    )
    location, heard_town = _with_route_town(text, location, topic, towns)
    eta = _corrected(text, partial(find_eta, expecting_eta=topic is Topic.ETA))
    not_there_yet = bool(_NOT_THERE_YET.search(text))  # "no, still rolling" is itself a "no"
    delays = _delay_reasons(text, topic, answered_else=bool(eta or location or not_there_yet))
    return Reading(
        yes=yes,
        no=no,
        question=question,
        status=_status(text, bool(location and location.highway), delays),
        location=location,
        eta=eta,
        delay_reasons=delays,
        unloading=() if not_there_yet else _unloading(text, topic, no),
        not_there_yet=not_there_yet,
        back_on_schedule=bool(_find(_BACK_ON_SCHEDULE, text)),
        pod_ack=_pod_ack(text, topic),
        heard_town=heard_town,
        misses_appointment=bool(_find(_MISSES_APPOINTMENT, text)),
    )
