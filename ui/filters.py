"""From what the filter widgets hold to the Store's `CallFilters` (a date is a whole day in the
office's time zone, DISPATCH_TIMEZONE)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from db.models import CallFilters, Provider
from ui.formatting import day_end, day_start

ENGINE_LABELS = {Provider.RETELL.value: "Retell", Provider.PIPECAT.value: "Pipecat"}
SIMULATED_SWITCH = "Include simulated calls"
SIMULATED_HELP = (
    "Simulated calls are the ones a manager typed as the driver on the Trigger call page. "
    "Figures leave them out unless this is on; Conversations always lists them."
)


def include_simulated_switch() -> bool:
    """The figures' visible switch, kept in the page's URL like the other filters."""
    return st.toggle(
        SIMULATED_SWITCH,
        value=False,
        key="include_simulated",
        help=SIMULATED_HELP,
        bind="query-params",
    )


def any_of(
    column: DeltaGenerator,
    label: str,
    options: Iterable[str],
    key: str,
    format_func: Callable[[str], str | None] | None = None,
) -> str | None:
    """One filter's choice among `options`, or None for "Any", kept in the page's URL."""
    return column.selectbox(
        label,
        [str(option) for option in options],
        index=None,
        format_func=format_func or str,
        placeholder="Any",
        key=key,
        bind="query-params",
    )


def date_window(
    start: date | None, end: date | None, zone: ZoneInfo | None = None
) -> dict[str, datetime | None]:
    """Inclusive days in the office -> the Store's [created_from, created_to) instants."""
    return {
        "created_from": day_start(start, zone) if start else None,
        "created_to": day_end(end, zone) if end else None,
    }


def call_filters(
    *,
    query: str | None = None,
    engine: str | None = None,
    outcome: str | None = None,
    driver_status: str | None = None,
    emergency_type: str | None = None,
    on_time: str | None = None,
    driver: str | None = None,
    load_number: str | None = None,
    start: date | None = None,
    end: date | None = None,
    failed_start: bool | None = None,
    include_simulated: bool = False,
) -> CallFilters:
    def text(value: str | None) -> str | None:
        return value.strip() or None if value else None

    return CallFilters(
        query=text(query),
        provider=Provider(engine) if engine else None,
        call_outcome=outcome or None,
        driver_status=driver_status or None,
        emergency_type=emergency_type or None,
        on_time_status=on_time or None,
        driver_name=text(driver),
        load_number=text(load_number),
        failed_start=failed_start,
        include_simulated=include_simulated,
        **date_window(start, end),
    )
