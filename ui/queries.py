"""Cached reads from the Store. Every page goes through these, so every number is one SQL query
(aggregate or one page of rows) cached for a short time, shared across sessions.

Filters travel to the cached functions as JSON so their cache keys are plain strings; the store
is cached per database location so tests and processes pointing elsewhere never share one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime

import streamlit as st

import db
from db.models import (
    AlertLogEntry,
    Call,
    CallFilters,
    CallMetrics,
    CallPage,
    CallStatus,
    EmergencyAlert,
    EmergencyAlertPage,
    LatencyDay,
    PipecatMetrics,
    Provider,
    SortKey,
)
from settings import ConfigError, Settings, get_settings

# Results are shared by every session for QUERY_TTL, then refreshed in the background while the
# previous value is still served: a page waits on an aggregate only the first time it is asked.
QUERY_TTL = "15s"
# The most call rows any page holds at once: one page of the table (or of the scatter plot).
PAGE_ROWS = 100
SEED_HINT = "python -m db seed --calls 2000"


class DataUnavailable(RuntimeError):
    """The data cannot be read; the message says what the user can do about it."""


def _location(settings: Settings) -> str:
    """The database and the office's zone: a figure's days are that zone's (DISPATCH_TIMEZONE)."""
    return f"{settings.supabase_url or settings.database_url}#{settings.dispatch_timezone}"


@st.cache_resource(show_spinner=False)
def _store_at(location: str) -> db.Store:
    return db.open_store(get_settings())


def store() -> db.Store:
    """The process-wide Store for the configured database (opened once, shared by sessions)."""
    try:
        settings = get_settings()
        return _store_at(_location(settings))
    except (ConfigError, db.StoreError) as exc:
        raise DataUnavailable(explain(exc)) from exc


def _store_key() -> str:
    return _location(get_settings())


def explain(exc: BaseException) -> str:
    """A message a dispatch manager can act on, for any failure of the data layer."""
    if isinstance(exc, DataUnavailable):
        return str(exc)
    if isinstance(exc, ConfigError):
        return f"The configuration is invalid: {exc}"
    if isinstance(exc, db.NotMigrated):
        return f"The database has no tables yet. {exc} Then `{SEED_HINT}` adds demo data."
    if isinstance(exc, db.StoreAuthError):
        return (
            "The database refused the app's credentials: check DATABASE_URL, or SUPABASE_URL and "
            f"SUPABASE_SERVICE_ROLE_KEY. Details: {exc}"
        )
    if isinstance(exc, db.StoreUnavailable):
        return (
            "The database cannot be reached right now: check that it is running and that "
            f"DATABASE_URL points at it. Details: {exc}"
        )
    return f"Reading the database failed: {exc}"


@contextmanager
def shown_errors() -> Iterator[None]:
    """Turn a data-layer failure into an `st.error` and stop the page (never a traceback)."""
    try:
        yield
    except (DataUnavailable, ConfigError, db.StoreError) as exc:
        st.error(explain(exc), icon=":material/database:")
        st.stop()


def _run(query):  # type: ignore[no-untyped-def]
    try:
        return query(store())
    except db.StoreError as exc:
        raise DataUnavailable(explain(exc)) from exc


# Aggregates a page needs together run side by side (both Stores are thread-safe); long-lived
# threads keep their database connections.
_QUERY_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="store-query")


@st.cache_data(ttl=QUERY_TTL, show_spinner=False, refresh_mode="background")
def _total_calls(store_key: str) -> int:
    return _run(lambda s: s.search_calls(CallFilters(), page=1, page_size=1).total)


def total_calls() -> int:
    """How many calls the database holds (drives the empty states)."""
    return _total_calls(_store_key())


@st.cache_data(ttl=QUERY_TTL, show_spinner=False, refresh_mode="background")
def _search(store_key: str, filters_json: str, sort: str, page: int, page_size: int) -> CallPage:
    filters = CallFilters.model_validate_json(filters_json)
    return _run(lambda s: s.search_calls(filters, sort=sort, page=page, page_size=page_size))


def search(
    filters: CallFilters, *, sort: SortKey = "-created_at", page: int = 1, page_size: int = 50
) -> CallPage:
    return _search(_store_key(), filters.model_dump_json(), sort, page, page_size)


@st.cache_data(ttl=QUERY_TTL, show_spinner=False, refresh_mode="background")
def _metrics(store_key: str, filters_jsons: tuple[str, ...]) -> list[CallMetrics]:
    def one(filters_json: str) -> CallMetrics:
        filters = CallFilters.model_validate_json(filters_json)
        return _run(lambda s: s.retell_metrics(filters))

    if len(filters_jsons) == 1:
        return [one(filters_jsons[0])]
    return list(_QUERY_THREADS.map(one, filters_jsons))


def metrics(filters: CallFilters, provider: Provider) -> CallMetrics:
    """SQL aggregates over one engine's calls matching the filters."""
    return metrics_of([(filters, provider)])[0]


def metrics_of(requests: Sequence[tuple[CallFilters, Provider]]) -> list[CallMetrics]:
    """Several engines' or periods' aggregates at once, computed in parallel."""
    scoped = tuple(
        filters.model_copy(update={"provider": provider}).model_dump_json()
        for filters, provider in requests
    )
    return _metrics(_store_key(), scoped)


@st.cache_data(ttl=QUERY_TTL, show_spinner=False, refresh_mode="background")
def _latency_trend(store_key: str, filters_json: str) -> list[LatencyDay]:
    filters = CallFilters.model_validate_json(filters_json)
    return _run(lambda s: s.latency_trend(filters))


def latency_trend(filters: CallFilters) -> list[LatencyDay]:
    """Per day and engine, the calls' voice latency p50 and p90 (one SQL aggregate)."""
    return _latency_trend(_store_key(), filters.model_dump_json())


def _duration_histogram(store_key: str, filters_json: str) -> list[dict[str, float | int]]:
    filters = CallFilters.model_validate_json(filters_json)
    return _run(lambda s: s.duration_histogram(filters))


def duration_histogram(filters: CallFilters, provider: Provider) -> list[dict[str, float | int]]:
    """One engine's call durations, binned by the data (SQL counts per bin)."""
    scoped = filters.model_copy(update={"provider": provider})
    return _duration_histogram(_store_key(), scoped.model_dump_json())


@st.cache_data(ttl=QUERY_TTL, show_spinner=False, refresh_mode="background")
def _on_time_counts(store_key: str, filters_json: str) -> dict[str, int]:
    filters = CallFilters.model_validate_json(filters_json)
    return _run(lambda s: s.on_time_counts(filters))


def on_time_counts(filters: CallFilters) -> dict[str, int]:
    """Calls per on-time status ("On Time", "At Risk", "Late") among those matching."""
    return _on_time_counts(_store_key(), filters.model_dump_json())


@st.cache_data(ttl=QUERY_TTL, show_spinner=False, refresh_mode="background")
def _pipecat(store_key: str, filters_json: str, page: int, page_size: int) -> PipecatMetrics:
    filters = CallFilters.model_validate_json(filters_json)
    return _run(lambda s: s.pipecat_metrics(filters, page=page, page_size=page_size))


def pipecat(filters: CallFilters, *, page: int = 1, page_size: int = 50) -> PipecatMetrics:
    """One page of Pipecat sessions with their metrics, and aggregates over all of them."""
    scoped = filters.model_copy(update={"provider": Provider.PIPECAT})
    return _pipecat(_store_key(), scoped.model_dump_json(), page, page_size)


@st.cache_data(ttl="5s", show_spinner=False)
def _call(store_key: str, provider_call_id: str, provider: str | None) -> Call | None:
    engine = Provider(provider) if provider else None
    return _run(lambda s: s.get_call(provider_call_id, engine))


def call(provider_call_id: str, provider: Provider | str | None = None) -> Call | None:
    return _call(_store_key(), provider_call_id, str(provider) if provider else None)


def refresh() -> None:
    """Forget cached query results (after a call ends, or on the user's request)."""
    for cached in (_total_calls, _search, _metrics, _pipecat, _call, _open_alerts):
        cached.clear()


def calls_in_progress(since: datetime, limit: int) -> list[Call]:
    """Calls on every engine still going on, newest first: one indexed SQL page, never cached
    (the live panel asks every second and must show a turn within two seconds of it)."""
    filters = CallFilters(status=CallStatus.ONGOING, created_from=since)
    return _run(lambda s: s.search_calls(filters, page=1, page_size=limit).items)


@st.cache_data(ttl="1s", show_spinner=False)
def _open_alerts(store_key: str, limit: int) -> EmergencyAlertPage:
    return _run(lambda s: s.open_emergency_alerts(limit=limit))


def open_emergency_alerts(limit: int = 20) -> EmergencyAlertPage:
    """The newest open emergency alerts and how many are open (shared for a second)."""
    return _open_alerts(_store_key(), limit)


def acknowledge_emergency_alert(alert_id: int, by: str) -> EmergencyAlert | None:
    """A manager acknowledges an alert (a write: never cached); the open list is re-read."""
    acknowledged = _run(lambda s: s.acknowledge_emergency_alert(alert_id, by))
    _open_alerts.clear()
    return acknowledged


def emergency_alert_log(provider_call_id: str, provider: Provider) -> list[AlertLogEntry]:
    return _run(lambda s: s.emergency_alert_log(provider, provider_call_id))


@st.cache_data(ttl="10m", max_entries=8, show_spinner=False)
def recording(recording_url: str) -> bytes | None:
    """A recording kept by us (local folder or Supabase Storage); None once it has expired."""
    from db.recordings import RecordingError, open_recordings

    try:
        return open_recordings(get_settings()).read(recording_url)
    except RecordingError:
        return None
