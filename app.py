"""Streamlit entry point: page setup, navigation and the sidebar's open-emergency count only
(each page lives in pages/)."""

import streamlit as st

from ui.emergency_alerts import sidebar_alert_count

st.set_page_config(
    page_title="Dispatch Voice Agent", page_icon=":material/local_shipping:", layout="wide"
)

navigation = st.navigation(
    {
        "Operations": [
            st.Page(
                "pages/dashboard.py", title="Dashboard", icon=":material/dashboard:", default=True
            ),
            st.Page("pages/trigger_call.py", title="Trigger call", icon=":material/call:"),
            st.Page(
                "pages/dispatch_board.py", title="Dispatch board", icon=":material/local_shipping:"
            ),
            st.Page("pages/loads.py", title="Loads", icon=":material/inventory_2:"),
        ],
        "Insights": [
            st.Page("pages/conversations.py", title="Conversations", icon=":material/forum:"),
            st.Page("pages/analytics.py", title="Analytics", icon=":material/monitoring:"),
        ],
    }
)
with st.sidebar:
    sidebar_alert_count()  # open emergencies, on every page
navigation.run()
