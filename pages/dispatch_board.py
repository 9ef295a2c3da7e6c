"""Dispatch board: every active load with its last status and call, the next scheduled call and
attempts, open emergencies first; a map of last known locations; pause, resume or call now.
Filters live in the URL; `?load=<number>` shows one load with every call about it."""

import streamlit as st

from db.load_models import BoardFilters, LoadPatch
from db.models import CallFilters
from ui import queries
from ui.call_view import calls_columns, calls_frame
from ui.formatting import time_text, zone_label
from ui.loads import board, board_frame, board_map, call_now, change_load, load_detail
from ui.page_setup import through_app_navigation

through_app_navigation()
st.title("Dispatch board")

selected = st.query_params.get("load")
if selected:
    with queries.shown_errors():
        load, slots, attempts = load_detail(selected)
    st.page_link("pages/dispatch_board.py", label="All loads", icon=":material/arrow_back:")
    if load is None:
        st.warning(f"No load {selected!r}.")
        st.stop()
    st.subheader(f"Load {load.load_number}: {load.origin} → {load.destination}")
    facts = st.columns(4)
    facts[0].metric("Driver", load.driver_name, load.driver_phone or "no phone", delta_color="off")
    facts[1].metric("Status", load.status.value.replace("_", " "))
    facts[2].metric(
        "Delivery",
        time_text(load.delivery_at, "%b %d %H:%M"),
        load.delivery_tz,
        delta_color="off",
    )
    facts[3].metric("Plan", "paused" if load.paused else "running")
    if load.unreachable_at:
        st.error(
            f"Driver unreachable since {time_text(load.unreachable_at, '%b %d %H:%M')}",
            icon=":material/phone_disabled:",
        )
    st.markdown("**Calls about this load**")
    with queries.shown_errors():
        calls = queries.search(CallFilters(load_number=load.load_number), page_size=100)
    if calls.items:
        st.dataframe(
            calls_frame(calls.items),
            column_config=calls_columns(),
            hide_index=True,
            key="load_calls",
        )
    else:
        st.caption("No calls yet.")
    st.markdown("**Scheduled calls and attempts**")
    st.dataframe([s.model_dump() for s in slots], hide_index=True, key="load_slots")
    st.dataframe([a.model_dump() for a in attempts], hide_index=True, key="load_attempts")
    st.stop()

with st.container(border=True):
    top = st.columns([3, 1, 1])
    query = top[0].text_input(
        "Load or driver", key="q", bind="query-params", placeholder="e.g. LD-1001, Maria"
    )
    only_problems = top[1].toggle("Only problems", key="problems", bind="query-params")
    include_inactive = top[2].toggle("Delivered too", key="inactive", bind="query-params")

filters = BoardFilters(
    query=query or None, only_problems=only_problems, include_inactive=include_inactive
)
with queries.shown_errors():
    rows = board(filters)

if not rows:
    st.info(
        "No loads to show. Import loads on the Loads page, or push them to POST /api/v1/loads.",
        icon=":material/local_shipping:",
    )
    st.stop()

emergencies = sum(row.open_emergency for row in rows)
unreachable = sum(row.load.unreachable_at is not None for row in rows)
kpis = st.columns(3)
kpis[0].metric("Loads", len(rows))
kpis[1].metric("Open emergencies", emergencies)
kpis[2].metric("Drivers unreachable", unreachable)

frame = board_frame(rows)
frame.insert(0, "Open", [f"?load={row.load.load_number}" for row in rows])
st.dataframe(
    frame,
    hide_index=True,
    key="board",
    column_config={
        "Open": st.column_config.LinkColumn("Open", display_text="details"),
        # Times in the office's zone, named in the headers.
        **{
            name: st.column_config.DatetimeColumn(
                f"{name} ({zone_label()})", format="MMM D, HH:mm", timezone=zone_label()
            )
            for name in ("Appointment", "Last call", "Next call")
        },
    },
)

figure = board_map(rows)
if figure is not None:
    st.plotly_chart(figure, key="board_map", config={"displayModeBar": False})

with st.container(border=True):
    st.markdown("**Act on a load**")
    numbers = [row.load.load_number for row in rows]
    chosen = st.selectbox("Load", numbers, key="act_load")
    row = next(r for r in rows if r.load.load_number == chosen)
    actions = st.columns(3)
    if row.load.paused:
        if actions[0].button("Resume calls", icon=":material/play_arrow:", key="resume"):
            with queries.shown_errors():
                change_load(chosen, LoadPatch(paused=False))
            st.rerun()
    elif actions[0].button("Pause calls", icon=":material/pause:", key="pause"):
        with queries.shown_errors():
            change_load(chosen, LoadPatch(paused=True))
        st.rerun()
    if actions[1].button(
        "Call now", icon=":material/call:", key="call_now", disabled=row.load.paused
    ):
        with queries.shown_errors():
            call_now(row.load)
        st.toast(f"Load {chosen}: a call is due now; the scheduler places it within seconds.")
        st.rerun()
    if row.load.unreachable_at and actions[2].button("Clear unreachable", key="clear_unreachable"):
        with queries.shown_errors():
            change_load(chosen, LoadPatch(clear_unreachable=True))
        st.rerun()
