"""Places on the way between a load's origin and destination, and town names misheard on the way.

Speech-to-text turns "near Amarillo" into "near memory". Only towns along the load's route are
candidates (within `ROUTE_CORRIDOR_KM` of the straight line between origin and destination), so a
sound-alike from across the country is never proposed, and the agent confirms the town it heard
before recording it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from agent.places import PLACE_CUES, STATE_NAMES, TOWNS

ROUTE_CORRIDOR_KM = 120.0
_KM_PER_DEGREE = 111.2
_MIN_SOUND_SCORE = 0.75  # consonant skeletons this alike, e.g. "mr" (memory) and "mrl" (amarillo)
_MIN_LETTER_SCORE = 0.25

_STATE_CODES = {code.lower(): code for code in STATE_NAMES.values()}
# Words that follow "near" / "by" / "outside" in a driver's sentence without being a town.
_NOT_TOWNS = frozenset(
    {"the", "a", "an", "my", "your", "this", "that", "here", "there", "town", "city", "exit"}
    | {"mile", "marker", "scale", "scales", "station", "yard", "shop", "dock", "door", "gate"}
    | {"traffic", "construction", "line", "border", "state", "road", "highway", "interstate"}
    | {"where", "about", "like", "maybe", "some", "home", "work", "now", "time", "hour", "hours"}
    | {"minutes", "miles", "receiver", "shipper", "customer", "truck", "stop", "rest", "area"}
    | {"weigh", "fuel", "pilot", "loves", "petro", "flying", "bridge", "river", "lake", "downtown"}
    | {"around", "out", "over", "somewhere", "nowhere", "middle", "road", "rolling", "driving"}
    | {"near", "outside", "by", "past", "through", "in", "of", "on", "at", "to", "from", "into"}
)
_SOUND_CUES = frozenset({"near", "outside", "by", "past", "through", "around", "in", "of"})
_LETTERS = re.compile(r"[^a-z]")
_SOUND_SWAPS = (("ph", "f"), ("ck", "k"), ("qu", "k"), ("gh", ""), ("c", "k"), ("z", "s"))
_VOICED = str.maketrans({"b": "p", "d": "t", "g": "k", "v": "f", "j": "k", "x": "k"})
_SILENT = re.compile(r"[aeiouyhw]")
_DOUBLES = re.compile(r"(.)\1+")


@dataclass(frozen=True, slots=True)
class RouteTown:
    key: str  # the gazetteer key ("amarillo")
    city: str
    state: str
    sound: str  # consonant skeleton


def _sound(text: str) -> str:
    """A consonant skeleton: what survives a bad phone line ("memory" -> "mr")."""
    letters = _LETTERS.sub("", text.lower())
    for old, new in _SOUND_SWAPS:
        letters = letters.replace(old, new)
    return _DOUBLES.sub(r"\1", _SILENT.sub("", letters.translate(_VOICED)))


def _point_of(place: str | None) -> tuple[float, float] | None:
    """Coordinates of "Memphis, TN" (that state's) or "Memphis" (the first of that name)."""
    if not place:
        return None
    name, _, state = place.partition(",")
    key = " ".join(_LETTERS.sub(" ", name.lower().replace(".", "")).split())
    state = state.strip().upper()
    state = STATE_NAMES.get(state.lower(), state)
    matches = [(lat, lon, town_state) for k, _, town_state, lat, lon in TOWNS if k == key]
    for lat, lon, town_state in matches:
        if not state or town_state == state:
            return lat, lon
    return None


def _distance_to_segment_km(
    point: tuple[float, float], start: tuple[float, float], end: tuple[float, float]
) -> float:
    """Distance from a point to a segment on a flat projection around the segment (short legs)."""
    scale = math.cos(math.radians((start[0] + end[0]) / 2))

    def flat(p: tuple[float, float]) -> tuple[float, float]:
        return p[1] * scale * _KM_PER_DEGREE, p[0] * _KM_PER_DEGREE

    (px, py), (ax, ay), (bx, by) = flat(point), flat(start), flat(end)
    dx, dy = bx - ax, by - ay
    length = dx * dx + dy * dy
    t = 0.0 if length == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


class Route(tuple[RouteTown, ...]):
    """The towns along one route. Hashed once: memoized readings use it in their key each turn."""

    _hash: int

    def __new__(cls, towns: tuple[RouteTown, ...] = ()) -> Route:
        made = super().__new__(cls, towns)
        made._hash = tuple.__hash__(made)
        return made

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or tuple.__eq__(self, other)  # type: ignore[arg-type]


NO_ROUTE = Route()


@lru_cache(maxsize=256)
def route_towns(origin: str | None, destination: str | None) -> Route:
    """Gazetteer towns within the corridor between origin and destination; empty when unknown."""
    start, end = _point_of(origin), _point_of(destination)
    if start is None or end is None:
        return NO_ROUTE
    towns = {}
    for key, city, state, lat, lon in TOWNS:
        if (
            key not in towns
            and _distance_to_segment_km((lat, lon), start, end) <= ROUTE_CORRIDOR_KM
        ):
            towns[key] = RouteTown(key, city, state, _sound(key))
    return Route(tuple(towns.values()))


def _score(heard: str, heard_sound: str, town: RouteTown) -> float:
    if not heard_sound or heard_sound[0] != town.sound[:1]:
        return 0.0  # the first consonant survives a bad line; "clinton" is not Lawton
    sound = SequenceMatcher(None, heard_sound, town.sound).ratio()
    if sound < _MIN_SOUND_SCORE:
        return 0.0
    letters = SequenceMatcher(None, heard.replace(" ", ""), town.key.replace(" ", "")).ratio()
    return 0.0 if letters < _MIN_LETTER_SCORE else sound + letters


@lru_cache(maxsize=4096)
def town_on_route(
    text: str, towns: Route, *, whole_answer: bool = False
) -> tuple[RouteTown, bool] | None:
    """A route town the driver named, and whether it is sure.

    "near scottsburg" names a small town on the way (sure); "rolling tulsa noon" names Tulsa
    without a cue and "near memory" is heard as Amarillo when Amarillo is on the way: those are
    guesses for the agent to confirm, never recorded facts by themselves.
    """
    if not towns or not text:
        return None
    words = text.split()
    by_key = {town.key: town for town in towns}
    for start in range(len(words)):
        for size in (3, 2, 1):
            key = " ".join(words[start : start + size])
            if len(key.split()) == size and key in by_key:
                cued = start > 0 and words[start - 1] in PLACE_CUES
                return by_key[key], cued or (whole_answer and start == 0)
    best: tuple[float, RouteTown] | None = None
    for index, word in enumerate(words):
        cued = index > 0 and words[index - 1] in _SOUND_CUES
        if not (cued or (whole_answer and index == 0)):
            continue
        for size in range(1, min(3, len(words) - index) + 1):  # "sand a rosa"
            heard = " ".join(words[index : index + size])
            if words[index + size - 1] in _NOT_TOWNS or (size == 1 and word in _NOT_TOWNS):
                continue
            if len(heard.replace(" ", "")) < 4 or any(c.isdigit() for c in heard):
                continue
            heard_sound = _sound(heard)
            for town in towns:
                score = _score(heard, heard_sound, town)
                if score and (best is None or score > best[0]):
                    best = (score, town)
    return (best[1], False) if best else None


def state_code(name: str) -> str:
    return _STATE_CODES.get(name.lower(), name)
