"""Scripted drivers for demo data: what a driver says back to whatever the agent asks.

A `DriverScript` answers the agent's last sentence by topic (where, when, why late, unloading,
paperwork, safety...), the way a real driver answers questions rather than reciting lines in a
fixed order. `script_variants` turns a couple of dozen driver kinds into a few hundred distinct
scripts by varying places, times, reasons and wording.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

# Topics the agent may ask about, recognised from its last sentence (first match wins).
_TOPIC_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (topic, re.compile(pattern))
    for topic, pattern in (
        ("injury", r"\b(injur|hurt|medical|ambulance|anyone hurt)"),
        ("safety", r"\b(safe|okay\?|are you ok|everyone ok)"),
        ("load_secure", r"\b(secure|cargo|trailer (ok|intact)|load (ok|intact))"),
        ("emergency_location", r"\b(exact(ly)? where|mile ?marker|exact location)"),
        ("pod", r"\b(pod|proof of delivery|paperwork|bill of lading|bol)\b"),
        ("unloading", r"\b(unload|door|dock|lumper|bay)"),
        ("delay", r"\b(delay|holding you up|running (late|behind)|why|what happened|cause)"),
        ("eta", r"\b(eta|arriv|what time|when (do|will|are)|get there|how long)"),
        ("location", r"\b(where|location|whereabouts|what city|what road)"),
        ("anything_else", r"\b(anything else|is that all|all set)"),
    )
)


_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def asked_topic(agent_text: str) -> str | None:
    """The topic of the agent's last question ("Glad nobody's hurt. Where are you?" is where)."""
    sentences = [s for s in _SENTENCE_END.split(agent_text.lower()) if s.strip()]
    questions = [s for s in sentences if s.rstrip().endswith("?")] or sentences[-1:]
    for sentence in reversed(questions):
        for topic, pattern in _TOPIC_PATTERNS:
            if pattern.search(sentence):
                return topic
    return None


@dataclass(frozen=True)
class DriverScript:
    """One scripted driver: a first answer, answers by topic, and when they hang up."""

    kind: str  # e.g. "delayed", "emergency_accident", "no_answer"
    first_answer: str | None  # None: nobody picks up
    answers: dict[str, str] = field(default_factory=dict)
    fallback: tuple[str, ...] = ("Okay.", "Yeah.", "Alright, thanks.")
    hang_up_after: int | None = None  # the driver hangs up after this many answers

    def answer(self, agent_text: str, answers_given: int) -> str | None:
        """What the driver says next, or None when they hang up / have nothing to add."""
        if self.first_answer is None:
            return None
        if self.hang_up_after is not None and answers_given >= self.hang_up_after:
            return None
        if answers_given == 0:
            return self.first_answer
        topic = asked_topic(agent_text)
        if topic in self.answers:
            return self.answers[topic]
        if topic == "anything_else":
            return "No, that's it. Thanks."
        return self.fallback[min(answers_given - 1, len(self.fallback) - 1)]


# -- variation material ----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A lane demo loads run on, with the (highway, city) points a driver on it passes, so a
    location said on a call lies on that load's way (no "I-94 near Amarillo" from Chicago to
    Dallas). Loads run either way along it."""

    origin: str
    destination: str
    waypoints: tuple[tuple[str, str], ...]

    @property
    def highways(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(road for road, _ in self.waypoints))

    @property
    def cities(self) -> tuple[str, ...]:
        return tuple(city for _, city in self.waypoints)


ROUTES = (
    Route("Chicago, IL", "Dallas, TX", (("I-55", "Springfield"), ("I-55", "St. Louis"),
          ("I-44", "Joplin"), ("I-44", "Tulsa"), ("I-35", "Oklahoma City"))),
    Route("Atlanta, GA", "Phoenix, AZ", (("I-20", "Birmingham"), ("I-20", "Shreveport"),
          ("I-20", "Abilene"), ("I-10", "El Paso"), ("I-10", "Tucson"))),
    Route("Denver, CO", "Kansas City, MO", (("I-70", "Limon"), ("I-70", "Colby"),
          ("I-70", "Hays"), ("I-70", "Salina"), ("I-70", "Topeka"))),
    Route("Nashville, TN", "Indianapolis, IN", (("I-65", "Bowling Green"),
          ("I-65", "Elizabethtown"), ("I-65", "Louisville"), ("I-65", "Seymour"))),
    Route("Los Angeles, CA", "Salt Lake City, UT", (("I-15", "Barstow"), ("I-15", "Las Vegas"),
          ("I-15", "St. George"), ("I-15", "Cedar City"), ("I-15", "Provo"))),
    Route("Memphis, TN", "Columbus, OH", (("I-40", "Jackson"), ("I-40", "Nashville"),
          ("I-65", "Bowling Green"), ("I-65", "Louisville"), ("I-71", "Cincinnati"))),
    Route("Houston, TX", "Oklahoma City, OK", (("I-45", "Huntsville"), ("I-45", "Corsicana"),
          ("I-35", "Denton"), ("I-35", "Ardmore"), ("I-35", "Norman"))),
    Route("Seattle, WA", "Boise, ID", (("I-90", "Ellensburg"), ("I-82", "Yakima"),
          ("I-84", "Pendleton"), ("I-84", "La Grande"), ("I-84", "Ontario"))),
    Route("Charlotte, NC", "Harrisburg, PA", (("I-77", "Statesville"), ("I-77", "Wytheville"),
          ("I-81", "Roanoke"), ("I-81", "Winchester"), ("I-81", "Hagerstown"))),
    Route("Minneapolis, MN", "Milwaukee, WI", (("I-94", "Eau Claire"), ("I-94", "Tomah"),
          ("I-94", "Madison"))),
    Route("Laredo, TX", "Memphis, TN", (("I-35", "San Antonio"), ("I-35", "Austin"),
          ("I-35", "Waco"), ("I-30", "Texarkana"), ("I-40", "Little Rock"))),
    Route("Savannah, GA", "Louisville, KY", (("I-16", "Macon"), ("I-75", "Chattanooga"),
          ("I-75", "Knoxville"), ("I-75", "Lexington"))),
)  # fmt: skip


ETAS = (
    "around 3 PM",
    "about 5:30 this evening",
    "tomorrow morning around 8",
    "in about two hours",
    "maybe 45 minutes",
    "by 7 tonight",
    "around noon tomorrow",
    "in about four hours",
)
DELAYS = (
    ("heavy traffic", "Traffic's backed up for miles, some construction zone."),
    ("weather", "Snow came in hard, they slowed everybody down."),
    ("detention", "Shipper held me three hours this morning, so I left late. Detention."),
    ("breakdown", "Had a tire go flat earlier, lost a couple hours getting it fixed."),
    ("inspection", "Got pulled into an inspection at the scale."),
    ("accident ahead", "There's an accident ahead, traffic's stopped."),
    ("fuel", "Had to wait at the fuel stop, long line."),
)
FILLERS = ("", "Uh, ", "Yeah, ", "Um, ", "Hey, ")
LATE_BY = ("about an hour", "two hours", "maybe three hours", "45 minutes")
DOORS = ("12", "4", "27", "9", "33", "18")


def _pick(rng: random.Random, options: tuple[str, ...]) -> str:
    return options[rng.randrange(len(options))]


def _on_route(rng: random.Random, route: Route) -> tuple[str, str]:
    """A (highway, city) point along the route."""
    return route.waypoints[rng.randrange(len(route.waypoints))]


def _driving(rng: random.Random, route: Route) -> DriverScript:
    (road, city), eta = _on_route(rng, route), _pick(rng, ETAS)
    filler = _pick(rng, FILLERS)
    return DriverScript(
        kind="driving",
        first_answer=f"{filler}I'm driving, on {road} near {city}. All good.",
        answers={
            "location": f"On {road}, just past {city}.",
            "eta": f"Should be there {eta}.",
            "delay": "No delays, rolling fine.",
            "unloading": "Not there yet, still driving.",
            "pod": "Yep, will do.",
        },
    )


def _delayed(rng: random.Random, route: Route) -> DriverScript:
    (road, city), eta = _on_route(rng, route), _pick(rng, ETAS)
    reason, explanation = DELAYS[rng.randrange(len(DELAYS))]
    return DriverScript(
        kind="delayed",
        first_answer=f"{_pick(rng, FILLERS)}I'm running late, {_pick(rng, LATE_BY)} behind. "
        f"{explanation}",
        answers={
            "location": f"Stuck on {road} near {city}, still running behind.",
            "eta": f"Now looking at {eta}, sorry about that.",
            "delay": f"It's the {reason}. {explanation}",
            "unloading": "No, I'm still on the road, running late.",
            "pod": "Sure thing.",
        },
    )


def _arrived(rng: random.Random) -> DriverScript:
    door = _pick(rng, DOORS)
    waiting = rng.random() < 0.5
    return DriverScript(
        kind="arrived",
        first_answer=f"{_pick(rng, FILLERS)}Just pulled in at the receiver.",
        answers={
            "location": "I'm at the receiver, in the lot.",
            "unloading": (
                "Waiting for a door, they said maybe an hour."
                if waiting
                else f"They put me in door {door}, waiting on the lumper."
            ),
            "eta": "I'm already here.",
            "delay": "No delays, got here on time.",
            "pod": "Yes, I'll get the POD signed and send it over.",
        },
    )


def _unloading(rng: random.Random) -> DriverScript:
    door = _pick(rng, DOORS)
    return DriverScript(
        kind="unloading",
        first_answer=f"{_pick(rng, FILLERS)}I'm here, in door {door}, they're unloading me now.",
        answers={
            "location": f"At the receiver, door {door}.",
            "unloading": f"In door {door}, unloading now, should be done in an hour.",
            "eta": "Already here, unloading.",
            "delay": "No, everything's on time.",
            "pod": "Yep, I'll send the POD once they sign it.",
        },
    )


def _emergency(rng: random.Random, kind: str, route: Route) -> DriverScript:
    road, mile = _pick(rng, route.highways), rng.randrange(12, 380)
    direction = _pick(rng, ("eastbound", "westbound", "northbound", "southbound"))
    first, injury = {
        "accident": (
            "I just had an accident, a car cut me off and I hit the guardrail.",
            _pick(rng, ("Nobody's hurt, I'm okay.", "My arm hurts but I'm okay.")),
        ),
        "breakdown": (
            "Truck broke down, engine just quit on me. I'm on the shoulder.",
            "No, nobody's hurt.",
        ),
        "medical": (
            "I'm not feeling good, chest pains, I pulled over.",
            "I think I need an ambulance, chest is tight.",
        ),
        "other": (
            "Somebody tried to break into the trailer at the truck stop, emergency.",
            "No, I'm not hurt.",
        ),
    }[kind]
    return DriverScript(
        kind=f"emergency_{kind}",
        first_answer=first,
        answers={
            "safety": "I'm safe, off the road now." if kind != "medical" else injury,
            "injury": injury,
            "emergency_location": f"{road} {direction}, mile marker {mile}.",
            "location": f"{road} {direction}, mile marker {mile}.",
            "load_secure": _pick(rng, ("Load looks secure.", "Not sure, the trailer's damaged.")),
            "eta": "I don't know, I'm stuck here.",
        },
        fallback=("Okay, thank you.", "Please hurry.", "Okay."),
    )


def _incomplete(rng: random.Random, kind: str) -> DriverScript:
    if kind == "no_answer":
        return DriverScript(kind="no_answer", first_answer=None)
    if kind == "hang_up":
        return DriverScript(
            kind="hang_up",
            first_answer=_pick(rng, ("Can't talk now, I'm driving.", "Call me later.")),
            hang_up_after=1,
        )
    if kind == "wrong_person":
        return DriverScript(
            kind="wrong_person",
            first_answer="Wrong number, I don't know anything about a load.",
            hang_up_after=1,
        )
    return DriverScript(
        kind="unclear",
        first_answer="What? You're breaking up.",
        answers={topic: "Sorry, can't hear you." for topic in ("location", "eta", "delay")},
        fallback=("Hello?", "I can't hear you."),
        hang_up_after=3,
    )


# Share of each kind among demo calls: delays common, emergencies rare, some incomplete.
KIND_WEIGHTS: dict[str, float] = {
    "driving": 0.40,
    "delayed": 0.25,
    "arrived": 0.10,
    "unloading": 0.09,
    "emergency_accident": 0.010,
    "emergency_breakdown": 0.012,
    "emergency_medical": 0.003,
    "emergency_other": 0.002,
    "no_answer": 0.055,
    "hang_up": 0.03,
    "wrong_person": 0.01,
    "unclear": 0.038,
}


def make_script(kind: str, rng: random.Random, route: Route | None = None) -> DriverScript:
    """A scripted driver of this kind; one on the road says places along `route` (a random
    route when none is given)."""
    route = route or ROUTES[rng.randrange(len(ROUTES))]
    if kind == "driving":
        return _driving(rng, route)
    if kind == "delayed":
        return _delayed(rng, route)
    if kind == "arrived":
        return _arrived(rng)
    if kind == "unloading":
        return _unloading(rng)
    if kind.startswith("emergency_"):
        return _emergency(rng, kind.removeprefix("emergency_"), route)
    return _incomplete(rng, kind)


def script_variants(
    count: int, rng: random.Random, route: Route | None = None
) -> list[DriverScript]:
    """`count` scripts, every kind at least once, then kinds in proportion to KIND_WEIGHTS;
    drivers on the road are somewhere along `route`."""
    kinds = list(KIND_WEIGHTS)
    chosen = kinds[:count] + rng.choices(
        kinds, weights=list(KIND_WEIGHTS.values()), k=max(0, count - len(kinds))
    )
    return [make_script(kind, rng, route) for kind in chosen]
