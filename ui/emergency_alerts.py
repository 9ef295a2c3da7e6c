"""Open emergencies as an alert: on top of the dashboard, counted in every page's sidebar.

Both re-read the open alerts on their own every few seconds (fragments), so a new emergency
shows without anyone reloading. A manager acknowledges an alert by typing their name; it then
leaves the alert, and its audit trail (raised, acknowledged by whom and when) stays with the call.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import streamlit as st

from db.models import AlertLogEntry, EmergencyAlert
from settings import ConfigError, Settings, get_settings
from ui import queries
from ui.formatting import time_text

log = logging.getLogger(__name__)

REFRESH = "3s"
SHOWN_ALERTS = 10
NO_TRANSFER_LINE = (
    "No transfer line: DISPATCH_TRANSFER_NUMBER is not set, so emergencies cannot be "
    "transferred to a human. The agent tells drivers the dispatch office will call them back, "
    "and each emergency is raised as an alert on the dashboard."
)


def ago(when: datetime, now: datetime) -> str:
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    return f"{seconds // 86400} d ago"


def describe(alert: EmergencyAlert, now: datetime) -> str:
    """One alert in a line a dispatcher reads at a glance."""
    who = alert.driver_name or "Unknown driver"
    parts = [
        f"**{alert.emergency_type or 'Emergency'}** · {who} · load {alert.load_number or '—'}",
        f"injuries: {alert.injury_status or 'unknown'}",
        f"location: {alert.emergency_location or 'unknown'}",
        ago(alert.raised_at, now),
    ]
    if alert.escalation_status:
        parts.append(alert.escalation_status.lower())
    if alert.driver_phone:
        parts.append(f"call back {alert.driver_phone}")
    return " · ".join(parts)


def transfer_line_warning(settings: Settings | None = None) -> None:
    """A warning on the pages where it matters when no transfer line is configured."""
    try:
        settings = settings or get_settings()
    except ConfigError:
        return  # the page shows the configuration error itself
    if not settings.dispatch_transfer_number:
        st.warning(NO_TRANSFER_LINE, icon=":material/phone_disabled:")


def _acknowledge_form(alert: EmergencyAlert) -> None:
    name, button = st.columns([3, 1], vertical_alignment="bottom")
    by = name.text_input(
        "Your name",
        key=f"ack_name_{alert.id}",
        placeholder="Who is handling it",
        label_visibility="collapsed",
    )
    if button.button("Acknowledge", key=f"ack_{alert.id}", icon=":material/check:"):
        if not by.strip():
            st.error("Type your name to acknowledge the alert.")
            return
        with queries.shown_errors():
            queries.acknowledge_emergency_alert(alert.id, by)
        st.toast(f"Alert acknowledged by {by.strip()}.", icon=":material/check:")
        st.rerun()  # the whole page: the sidebar count changes too


@st.fragment(run_every=REFRESH)
def alert_banner() -> None:
    """Every open emergency, newest first, each with its acknowledgement."""
    with queries.shown_errors():
        page = queries.open_emergency_alerts(SHOWN_ALERTS)
    if not page.total:
        return
    now = datetime.now(UTC)
    with st.container(key="emergency_alerts"):
        st.error(
            f"**{page.total} open emergenc{'y' if page.total == 1 else 'ies'}**: call the "
            "driver back, then acknowledge.",
            icon=":material/emergency_home:",
        )
        for alert in page.items:
            with st.container(border=True, key=f"alert_{alert.id}"):
                st.markdown(describe(alert, now))
                _acknowledge_form(alert)
                st.page_link(
                    "pages/conversations.py",
                    label="Open the call",
                    icon=":material/forum:",
                    query_params={"call": alert.provider_call_id, "provider": alert.provider.value},
                )
        if page.total > len(page.items):
            st.caption(f"{page.total - len(page.items)} older open alerts not shown.")


@st.fragment(run_every=REFRESH)
def sidebar_alert_count() -> None:
    """The open emergencies count in the sidebar of every page; never stops the page."""
    try:
        total = queries.open_emergency_alerts(SHOWN_ALERTS).total
    except (queries.DataUnavailable, ConfigError) as exc:
        log.warning("open emergencies unavailable: %s", exc)
        return
    if total:
        st.error(
            f"**{total} open emergenc{'y' if total == 1 else 'ies'}**",
            icon=":material/emergency_home:",
        )
        st.page_link("pages/dashboard.py", label="See the alerts", icon=":material/arrow_forward:")
    else:
        st.caption(":material/verified_user: No open emergencies")


def alert_trail(entries: list[AlertLogEntry]) -> str | None:
    """The alert's audit trail as one line, None when the call raised no alert."""
    if not entries:
        return None
    steps = []
    for entry in entries:
        at = time_text(entry.at, "%b %d %H:%M:%S")  # the office's time, with its zone
        steps.append(
            f"acknowledged by {entry.actor} at {at}"
            if entry.action == "acknowledged"
            else f"alert raised at {at}"
        )
    return "; ".join(steps)
