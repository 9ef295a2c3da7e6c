"""Conversations: search and filter every call (filters live in the URL), read one, export all."""

import math
import zlib

import streamlit as st

from agent.vocabulary import CallOutcome, DriverStatus, EmergencyType, OnTimeStatus
from ui import export, queries
from ui.call_view import calls_columns, calls_frame, show_call
from ui.filters import ENGINE_LABELS, any_of, call_filters
from ui.formatting import count_of, zone_label
from ui.page_setup import through_app_navigation

PAGE_SIZE = queries.PAGE_ROWS
CLICK_EXPORT_LIMIT = 20_000  # above this, build the file with a progress bar first

through_app_navigation()
st.title("Conversations")

with st.container(border=True):
    top = st.columns([3, 1, 1])
    query = top[0].text_input(
        "Search transcripts", key="q", bind="query-params", placeholder="e.g. flat tire, I-40"
    )
    start = top[1].date_input(
        "From", value=None, key="from", bind="query-params", help=f"Days in {zone_label()}"
    )
    end = top[2].date_input(
        "To", value=None, key="to", bind="query-params", help=f"Days in {zone_label()}"
    )
    row = st.columns(7)
    engine = any_of(row[0], "Engine", ENGINE_LABELS, "engine", format_func=ENGINE_LABELS.get)
    outcome = any_of(row[1], "Outcome", CallOutcome, "outcome")
    driver_status = any_of(row[2], "Driver status", DriverStatus, "driver_status")
    emergency_type = any_of(row[3], "Emergency type", EmergencyType, "emergency")
    on_time = any_of(row[4], "On time", OnTimeStatus, "on_time")
    driver = row[5].text_input("Driver", key="driver", bind="query-params")
    load_number = row[6].text_input("Load number", key="load", bind="query-params")

filters = call_filters(
    query=query,
    engine=engine,
    outcome=outcome,
    driver_status=driver_status,
    emergency_type=emergency_type,
    on_time=on_time,
    driver=driver,
    load_number=load_number,
    start=start,
    end=end,
)

# The page number resets whenever the filters change (a new key is a new widget).
page_key = f"page-{zlib.crc32(filters.model_dump_json().encode())}"
page_number = st.session_state.get(page_key, 1)
with queries.shown_errors():
    results = queries.search(filters, page=page_number, page_size=PAGE_SIZE)
    if results.total == 0 and queries.total_calls() == 0:
        st.info(
            "No calls yet. Seed demo data with `python -m db seed --calls 2000` (or `make run`).",
            icon=":material/inbox:",
        )
        st.stop()
pages = max(1, math.ceil(results.total / PAGE_SIZE))

st.markdown(f"**{count_of(results.total, 'matching call')}**")
if results.total == 0:
    st.info("No call matches these filters.", icon=":material/search_off:")
else:
    selection = st.dataframe(
        calls_frame(results.items),
        column_config=calls_columns(),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="calls_table",
        width="stretch",
    )
    if pages > 1:
        st.pagination(pages, key=page_key)
    selected_rows = selection.selection.rows if selection else []

    with st.container(border=True):
        st.markdown("**Export**")
        file_name = export.export_file_name(filters)
        store = queries.store()
        if results.total <= CLICK_EXPORT_LIMIT:
            st.download_button(
                f"Download CSV ({count_of(results.total, 'call')})",
                data=lambda: export.calls_csv(store, filters),
                file_name=file_name,
                mime="text/csv",
                icon=":material/download:",
                key="download_csv",
                on_click="ignore",
            )
        elif st.button(f"Prepare CSV of {count_of(results.total, 'call')}", key="prepare_csv"):
            bar = st.progress(0.0, text="Exporting…")

            def report(done: int) -> None:
                bar.progress(min(done / results.total, 1.0), text=f"{done:,} of {results.total:,}")

            with queries.shown_errors():
                prepared = export.calls_csv(store, filters, report)
            bar.empty()
            st.download_button(
                "Download CSV",
                data=prepared,
                file_name=file_name,
                mime="text/csv",
                icon=":material/download:",
                key="download_prepared_csv",
                on_click="ignore",
            )

    chosen = (
        (results.items[selected_rows[0]].provider_call_id, results.items[selected_rows[0]].provider)
        if selected_rows and selected_rows[0] < len(results.items)
        else (st.query_params.get("call"), st.query_params.get("provider"))
    )
    if chosen[0]:
        with queries.shown_errors():
            call = queries.call(chosen[0], chosen[1])
        st.divider()
        if call is None:
            st.warning(f"Call `{chosen[0]}` was not found.")
        else:
            show_call(call)
    else:
        st.caption("Select a row to read the conversation.")
