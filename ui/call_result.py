"""What the Trigger page shows once a call held in the page is over: the saved call's structured
result, its recording, and the way to the full conversation."""

from __future__ import annotations

import time

import streamlit as st

from db.models import Call, CallStatus, Provider
from ui import queries
from ui.call_view import conversation_link, show_recording, show_structured
from ui.call_widget import WidgetOutcome

SAVE_WAIT_SECS = 8.0  # the voice server finalizes a call (or the bot reports it) within seconds


def _complete(call: Call | None) -> bool:
    if call is None or call.status not in (CallStatus.ENDED, CallStatus.ERROR):
        return False
    # The bot records every Pipecat call and reports the file just after the summary.
    return (
        call.provider != Provider.PIPECAT
        or call.status == CallStatus.ERROR
        or bool(call.recording_url)
    )


def saved_call(provider_call_id: str, provider: Provider, wait_secs: float) -> Call | None:
    """The call as saved, once finalized (with its recording); the row so far if that takes
    longer than the wait."""
    store = queries.store()
    deadline = time.monotonic() + wait_secs
    while True:
        call = store.get_call(provider_call_id, provider)
        if _complete(call) or time.monotonic() >= deadline:
            return call
        time.sleep(0.2)


def show_call_result(provider_call_id: str, provider: Provider, outcome: WidgetOutcome) -> None:
    if outcome.state == "failed":
        st.error(outcome.reason, icon=":material/call_end:")
    else:
        st.info(
            f"{outcome.reason} ({outcome.duration_secs:.0f} s in the browser)",
            icon=":material/call_end:",
        )
    with queries.shown_errors():
        # A call that never connected has nothing more coming: show the row as it is.
        call = saved_call(
            provider_call_id, provider, SAVE_WAIT_SECS if outcome.state == "ended" else 0.0
        )
    queries.refresh()
    st.markdown("**Structured result**")
    if call is None or call.status not in (CallStatus.ENDED, CallStatus.ERROR):
        st.warning("The call has not been saved yet; it will appear in Conversations shortly.")
        if st.button("Check again", icon=":material/refresh:", key="check_saved"):
            st.rerun()
    else:
        show_structured(call.structured)
        if call.recording_url:
            show_recording(call.recording_url)
    conversation_link(provider_call_id, provider.value)
