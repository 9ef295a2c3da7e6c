"""How one call is shown: the calls table, and a call's transcript, result and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from agent.vocabulary import CallOutcome
from db.models import Call
from ui import queries
from ui.emergency_alerts import alert_trail
from ui.filters import ENGINE_LABELS
from ui.formatting import local, or_empty, time_text, zone_label

STRUCTURED_LABELS = {
    "call_outcome": "Outcome",
    "driver_status": "Driver status",
    "current_location": "Current location",
    "eta": "ETA",
    "delay_reason": "Delay reason",
    "unloading_status": "Unloading status",
    "pod_reminder_acknowledged": "POD reminder acknowledged",
    "emergency_type": "Emergency type",
    "safety_status": "Safety status",
    "injury_status": "Injury status",
    "emergency_location": "Emergency location",
    "load_secure": "Load secure",
    "escalation_status": "Escalation status",
}


def engine_label(call: Call) -> str:
    """The engine's name, marked when the call was simulated (figures leave those out)."""
    name = ENGINE_LABELS.get(call.provider.value, call.provider.value)
    return f"{name} (simulated)" if call.call_type == "simulated" else name


def calls_frame(calls: Sequence[Call]) -> pd.DataFrame:
    """One row per call of the page on screen (never more than one page). Times are the
    office's; a value the call does not have reads "—"."""
    return pd.DataFrame(
        {
            "Created": [local(c.created_at).strftime("%Y-%m-%d %H:%M") for c in calls],
            "Engine": [engine_label(c) for c in calls],
            "Driver": [or_empty(c.driver_name) for c in calls],
            "Load": [or_empty(c.load_number) for c in calls],
            "Outcome": [or_empty(c.call_outcome) for c in calls],
            "Driver status": [or_empty(c.driver_status) for c in calls],
            "Emergency": [or_empty(c.emergency_type) for c in calls],
            "Duration": [or_empty(c.duration_secs, "{:.0f} s") for c in calls],
            "Sentiment": [or_empty(c.sentiment, "{:+.2f}") for c in calls],
            "Call": [
                f"conversations?call={c.provider_call_id}&provider={c.provider.value}"
                for c in calls
            ],
        },
        columns=[
            "Created",
            "Engine",
            "Driver",
            "Load",
            "Outcome",
            "Driver status",
            "Emergency",
            "Duration",
            "Sentiment",
            "Call",
        ],
    )


def calls_columns() -> dict[str, Any]:
    return {
        "Created": st.column_config.TextColumn(f"Created ({zone_label()})"),
        "Call": st.column_config.LinkColumn("Link", display_text="open"),
    }


def show_transcript(transcript: Sequence[dict[str, str]]) -> None:
    if not transcript:
        st.caption("No transcript recorded.")
    for turn in transcript:
        is_agent = turn.get("role") == "agent"
        with st.chat_message(
            "assistant" if is_agent else "user",
            avatar=":material/support_agent:" if is_agent else ":material/local_shipping:",
        ):
            st.markdown(turn.get("content") or "")


def structured_table(structured: dict[str, Any] | None) -> pd.DataFrame:
    structured = structured or {}
    rows = [
        (label, structured.get(key))
        for key, label in STRUCTURED_LABELS.items()
        if structured.get(key) not in (None, "")
    ]
    return pd.DataFrame({"Field": [r[0] for r in rows], "Value": [_text(r[1]) for r in rows]})


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def show_structured(structured: dict[str, Any] | None) -> None:
    table = structured_table(structured)
    if table.empty:
        st.caption("No structured result yet.")
    else:
        st.table(table, hide_index=True, hide_header=True, border="horizontal")


LATENCY_PARTS = {
    "e2e": "End of speech → first audio",
    "asr": "Hearing the turn end (ASR)",
    "llm": "Agent (LLM)",
    "tts": "First audio (TTS)",
}
PERCENTILES = ("p50", "p90", "p95", "p99")


def latency_table(latency: dict[str, Any] | None) -> pd.DataFrame:
    """Rows e2e/asr/llm/tts, columns p50..p99 in ms: the shape both engines store."""
    latency = latency or {}
    rows = {
        label: [latency.get(f"{part}_{p}_ms") for p in PERCENTILES]
        for part, label in LATENCY_PARTS.items()
        if any(isinstance(latency.get(f"{part}_{p}_ms"), int | float) for p in PERCENTILES)
    }
    return pd.DataFrame.from_dict(rows, orient="index", columns=[f"{p} (ms)" for p in PERCENTILES])


def show_voice_latency(latency: dict[str, Any] | None) -> None:
    table = latency_table(latency)
    if table.empty:
        return
    with st.expander("Voice latency", icon=":material/timer:"):
        st.dataframe(table, width="stretch")
        turns = (latency or {}).get("turns") or []
        if turns:
            st.caption("Each driver turn: where the time to the bot's first audio went (ms)")
            per_turn = pd.DataFrame(
                [{k: t.get(k) for k in ("asr", "llm", "tts")} for t in turns],
                index=pd.RangeIndex(1, len(turns) + 1, name="turn"),
            )
            st.bar_chart(per_turn, stack=True, height=220)


def show_recording(recording_url: str) -> None:
    st.markdown("**Recording**")
    if recording_url.startswith(("http://", "https://")):
        st.audio(recording_url)  # Retell's
        return
    audio = queries.recording(recording_url)
    if audio is None:
        st.caption("The recording is no longer kept (RECORDING_RETENTION_DAYS).")
    else:
        st.audio(audio, format="audio/wav")
        st.caption("Driver on the left channel, agent on the right.")


def conversation_link(provider_call_id: str, provider: str) -> None:
    """A link to the call on the Conversations page."""
    st.page_link(
        "pages/conversations.py",
        label="Open in Conversations",
        icon=":material/forum:",
        query_params={"call": provider_call_id, "provider": provider},
    )


def show_call(call: Call) -> None:
    """Transcript as a chat, structured result and the call's metrics."""
    engine = ENGINE_LABELS.get(call.provider.value, call.provider.value)
    st.subheader(f"{call.driver_name or 'Unknown driver'} · load {or_empty(call.load_number)}")
    st.caption(
        f"{engine} {call.call_type or ''} call `{call.provider_call_id}` · {call.status.value} · "
        f"{time_text(call.created_at)}"
        + (f" · {call.origin} → {call.destination}" if call.origin and call.destination else "")
    )
    cols = st.columns(5)
    cols[0].metric("Duration", or_empty(call.duration_secs, "{:.0f} s"))
    cols[1].metric("Interruptions", or_empty(call.interruptions_est))
    cols[2].metric("Sentiment", or_empty(call.sentiment, "{:+.2f}"))
    cols[3].metric("Tokens", or_empty(call.tokens_estimated, "{:,}"))
    cols[4].metric("Latency p50", or_empty((call.latency or {}).get("e2e_p50_ms"), "{:.0f} ms"))
    show_voice_latency(call.latency)
    transcript_col, result_col = st.columns([3, 2])
    with transcript_col:
        st.markdown("**Transcript**")
        show_transcript(call.transcript)
    with result_col:
        st.markdown("**Structured result**")
        show_structured(call.structured)
        if call.call_outcome == CallOutcome.EMERGENCY_ESCALATION.value:
            with queries.shown_errors():
                trail = alert_trail(
                    queries.emergency_alert_log(call.provider_call_id, call.provider)
                )
            if trail:
                st.caption(f":material/emergency_home: {trail}")
        mentioned = {k: v for k, v in (call.keyword_hits or {}).items() if v}
        if mentioned:
            st.markdown("**Keywords**")
            st.write(", ".join(f"{k} ×{v}" for k, v in sorted(mentioned.items())))
        if call.recording_url:
            show_recording(call.recording_url)
        if call.error:
            st.warning(call.error)
