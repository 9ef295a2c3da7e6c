"""Loads: import a TMS's CSV export (problems listed, nothing half-imported) and edit loads and
their call plans in a table. New rows added to the table are loads too."""

import pandas as pd
import streamlit as st

from db.load_models import BoardFilters, LoadPatch, LoadStatus
from ui import queries
from ui.load_import import EDITABLE_COLUMNS, TEMPLATE, editable_row, edited_loads, parse_loads_csv
from ui.loads import board, change_load, import_loads
from ui.page_setup import through_app_navigation

through_app_navigation()
st.title("Loads")

st.subheader("Import a CSV export")
st.caption(
    "Columns: load_number, driver_name, driver_phone, origin, destination, pickup_at, pickup_tz, "
    "delivery_at, delivery_tz (IANA names like America/Chicago), optional status. Times are local "
    "to their time zone (2026-03-07 08:00) or ISO with an offset. Loads already known are replaced."
)
st.download_button("CSV template", TEMPLATE, "loads_template.csv", "text/csv", key="template")
upload = st.file_uploader("Loads CSV", type=["csv"], key="loads_csv")
if upload is not None:
    parsed = parse_loads_csv(upload.getvalue())
    if parsed.problems:
        st.error(
            f"{len(parsed.problems)} row(s) have problems; nothing was imported. Fix them and "
            "upload the file again.",
            icon=":material/error:",
        )
        st.dataframe(
            pd.DataFrame(parsed.problems, columns=["Line", "Problem"]),
            hide_index=True,
            key="import_problems",
        )
    elif st.button(f"Import {len(parsed.loads)} loads", type="primary", key="import"):
        with queries.shown_errors():
            written = import_loads(parsed.loads)
        st.success(f"Imported {written} loads; the scheduler plans their calls.")

st.subheader("Edit loads")
with queries.shown_errors():
    rows = board(BoardFilters(include_inactive=True))

original = pd.DataFrame.from_records(
    [editable_row(row.load) for row in rows], columns=list(EDITABLE_COLUMNS)
)
edited = st.data_editor(
    original,
    num_rows="dynamic",
    hide_index=True,
    key="loads_editor",
    column_config={
        "status": st.column_config.SelectboxColumn(options=[s.value for s in LoadStatus]),
        "paused": st.column_config.CheckboxColumn(),
        "every_hours": st.column_config.NumberColumn("every (h)", help="empty: the default"),
        "engine": st.column_config.SelectboxColumn(
            options=["simulated", "retell", "pipecat"], help="empty: the default"
        ),
        "max_attempts": st.column_config.NumberColumn(min_value=1, max_value=10, step=1),
    },
)


if st.button("Save changes", type="primary", key="save_loads"):
    changed, problems = edited_loads(original.to_dict("records"), edited.to_dict("records"))
    if problems:
        st.error("Nothing was saved: fix these rows first.", icon=":material/error:")
        st.dataframe(pd.DataFrame(problems, columns=["Row", "Problem"]), hide_index=True)
    elif changed:
        with queries.shown_errors():
            import_loads([load for load, _ in changed])
            for load, paused in changed:
                change_load(load.load_number, LoadPatch(paused=paused))
        st.success(f"Saved {len(changed)} load(s).")
        st.rerun()
    else:
        st.info("Nothing changed.")
