"""Live calls: the calls going on now on every engine, their transcript growing as it is saved.

The voice server saves a Retell call's transcript as the call goes (and the bot its sessions),
so the panel is a query of ongoing calls re-run every second inside a fragment: the rest of the
page does not rerun. Emergencies are read from the transcript so far with the agent's own
extraction, so one shows the moment the driver says it, not when the call ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import streamlit as st

from agent import CallContext, extract_result, transcript_from
from db.models import Call
from ui import queries
from ui.call_view import conversation_link
from ui.filters import ENGINE_LABELS

REFRESH = "1s"
# An "ongoing" row older than this is a call whose end was never reported, not a live one.
LIVE_WINDOW = timedelta(hours=2)
MAX_CALLS = 20
SHOWN_TURNS = 6


@dataclass(frozen=True)
class LiveCall:
    call: Call
    engine: str
    duration_secs: float
    emergency: str | None  # the emergency type the driver reported so far

    @classmethod
    def of(cls, call: Call, now: datetime) -> LiveCall:
        started = call.started_at or call.created_at
        result = extract_result(
            CallContext.from_mapping({"driver_name": call.driver_name}),
            transcript_from(call.transcript or []),
        )
        emergency = call.emergency_type or (
            result.emergency_type.value if result.emergency_type else None
        )
        return cls(
            call=call,
            engine=ENGINE_LABELS.get(call.provider.value, call.provider.value),
            duration_secs=max(0.0, (now - started).total_seconds()),
            emergency=emergency,
        )


def live_calls(now: datetime | None = None, only_call_id: str | None = None) -> list[LiveCall]:
    """Ongoing calls started within LIVE_WINDOW, emergencies first, then newest first."""
    now = now or datetime.now(UTC)
    calls = queries.calls_in_progress(now - LIVE_WINDOW, MAX_CALLS)
    live = [LiveCall.of(c, now) for c in calls if only_call_id in (None, c.provider_call_id)]
    return sorted(live, key=lambda item: item.emergency is None)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _show(item: LiveCall) -> None:
    call = item.call
    with st.container(border=True, key=f"live_{call.provider.value}_{call.provider_call_id}"):
        head, clock = st.columns([5, 1])
        head.markdown(
            f"**{call.driver_name or 'Unknown driver'}** · load {call.load_number or '—'} · "
            f"{item.engine} {call.call_type or ''}"
        )
        clock.markdown(f":material/timer: {_clock(item.duration_secs)}")
        if item.emergency:
            st.error(f"Emergency in progress: {item.emergency}", icon=":material/emergency_home:")
        turns = (call.transcript or [])[-SHOWN_TURNS:]
        if not turns:
            st.caption("Connected; nobody has spoken yet.")
        for turn in turns:
            who = "Agent" if turn.get("role") == "agent" else "Driver"
            st.markdown(f"**{who}:** {turn.get('content') or ''}")
        conversation_link(call.provider_call_id, call.provider.value)


@st.fragment(run_every=REFRESH)
def live_calls_panel(only_call_id: str | None = None, *, empty_text: str) -> None:
    """The panel; reruns on its own every REFRESH without rerunning the page."""
    with queries.shown_errors():
        items = live_calls(only_call_id=only_call_id)
    with st.container(key="live_panel"):
        if not items:
            st.caption(empty_text)
        for item in items:
            _show(item)
