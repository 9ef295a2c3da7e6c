"""Every page runs through app.py's navigation, even when it is the first URL a fresh server
serves."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

_SWITCHED = "_through_app_navigation"


def through_app_navigation() -> None:
    """Streamlit 1.67 treats a `pages/` folder beside the entry script as the legacy multipage
    layout until `st.navigation` has run once in the process: a deep link opened first on a
    fresh server (e.g. /conversations?call=...) would run this page alone, without app.py's
    navigation and page config. Leave that mode and rerun the same URL through app.py."""
    if PagesManager.uses_pages_directory and not st.session_state.get(_SWITCHED):
        # Once per session: a rerun later on could carry a click that must not be lost.
        st.session_state[_SWITCHED] = True
        PagesManager.uses_pages_directory = False
        st.rerun()
