"""Dashboard: this period against the previous one, live, and the calls that need attention."""

import streamlit as st

from agent.vocabulary import CallOutcome, OnTimeStatus
from db.models import Call, CallFilters, Provider
from ui import queries
from ui.emergency_alerts import alert_banner, transfer_line_warning
from ui.filters import include_simulated_switch
from ui.formatting import count_of, or_empty, time_text, zone_label
from ui.kpis import (
    DEFAULT_PERIOD,
    PERIODS,
    PeriodSummary,
    daily_calls,
    delta,
    period_filters,
    share_delta_text,
)
from ui.live_calls import live_calls_panel
from ui.page_setup import through_app_navigation

MIN_SPARKLINE_DAYS = 3  # a day-by-day line says nothing with fewer points

through_app_navigation()
st.title("Dispatch dashboard")
alert_banner()  # open emergencies come before everything else
transfer_line_warning()

with queries.shown_errors():
    if queries.total_calls() == 0:
        st.info(
            "No calls yet. Seed demo data with `python -m db seed --calls 2000` (or `make run`), "
            "or place a call from **Trigger call**.",
            icon=":material/inbox:",
        )
        st.page_link("pages/trigger_call.py", label="Trigger a call", icon=":material/call:")
        st.stop()

period = (
    st.segmented_control(
        "Period", list(PERIODS), default=DEFAULT_PERIOD, key="period", bind="query-params"
    )
    or DEFAULT_PERIOD
)
include_simulated = include_simulated_switch()


def _fmt_duration(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f} min"


def _fmt_share(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


@st.fragment(run_every="10s")
def live_kpis(period: str, include_simulated: bool) -> None:
    current_filters, previous_filters = period_filters(
        PERIODS[period], include_simulated=include_simulated
    )
    failed_filters = current_filters.model_copy(update={"failed_start": True})
    with queries.shown_errors():
        (
            current_retell,
            current_pipecat,
            previous_retell,
            previous_pipecat,
            failed_retell,
            failed_pipecat,
        ) = queries.metrics_of(
            [
                (current_filters, Provider.RETELL),
                (current_filters, Provider.PIPECAT),
                (previous_filters, Provider.RETELL),
                (previous_filters, Provider.PIPECAT),
                (failed_filters, Provider.RETELL),
                (failed_filters, Provider.PIPECAT),
            ]
        )
        on_time_now = queries.on_time_counts(current_filters)
        on_time_before = queries.on_time_counts(previous_filters)
    failed_starts = failed_retell.total_calls + failed_pipecat.total_calls
    now = PeriodSummary.of(current_retell, current_pipecat)
    before = PeriodSummary.of(previous_retell, previous_pipecat)
    calls_per_day = daily_calls(current_retell, current_pipecat, within=current_filters)
    emergencies_per_day = daily_calls(
        current_retell,
        current_pipecat,
        outcome=CallOutcome.EMERGENCY_ESCALATION.value,
        within=current_filters,
    )

    row1 = st.columns(3)
    row1[0].metric(
        "Calls",
        f"{now.calls:,}",
        delta(now.calls, before.calls),
        border=True,
        chart_data=calls_per_day if len(calls_per_day) >= MIN_SPARKLINE_DAYS else None,
        height="stretch",
        help=(
            "Calls started in the period that connected, both engines (failed starts are "
            "counted below). The line shows whole days in the office's zone "
            f"({zone_label()}): today so far is left out."
        ),
    )
    row1[1].metric(
        "Completion rate",
        _fmt_share(now.completion_rate),
        share_delta_text(now.completion_rate, before.completion_rate),
        border=True,
        height="stretch",
        help="Calls that ended with an outcome other than Incomplete.",
    )
    row1[2].metric(
        "Emergencies",
        f"{now.emergencies:,}",
        delta(now.emergencies, before.emergencies),
        delta_color="inverse",
        border=True,
        chart_data=emergencies_per_day if len(emergencies_per_day) >= MIN_SPARKLINE_DAYS else None,
        chart_type="bar",
        height="stretch",
    )
    row2 = st.columns(3)
    row2[0].metric(
        "Delays",
        f"{now.delays:,}",
        delta(now.delays, before.delays),
        delta_color="inverse",
        border=True,
    )
    duration_change = delta(now.avg_duration_secs, before.avg_duration_secs)
    row2[1].metric(
        "Average duration",
        _fmt_duration(now.avg_duration_secs),
        None if duration_change is None else f"{duration_change:+.0f} s",
        delta_color="off",
        border=True,
    )
    row2[2].metric(
        "Retell vs Pipecat",
        _fmt_share(now.retell_share) + " Retell",
        share_delta_text(now.retell_share, before.retell_share),
        delta_color="off",
        border=True,
        help="Share of the period's calls placed through Retell (the rest ran on Pipecat).",
    )
    row3 = st.columns(3)
    for column, status, help_text in (
        (row3[0], OnTimeStatus.LATE, "Loads whose ETA is past the appointment."),
        (row3[1], OnTimeStatus.AT_RISK, "ETA under 30 minutes before the appointment, or delayed."),
        (row3[2], OnTimeStatus.ON_TIME, "ETA 30 minutes or more before the appointment."),
    ):
        now_count = on_time_now.get(status.value, 0)
        column.metric(
            f"{status.value} loads",
            f"{now_count:,}",
            delta(now_count, on_time_before.get(status.value, 0)),
            delta_color="off" if status is OnTimeStatus.ON_TIME else "inverse",
            border=True,
            help=help_text,
        )
    st.caption(
        f"{period}, compared with the {period.lower().replace('last ', 'previous ')}. "
        f"{count_of(failed_starts, 'failed start')} (calls that never connected) "
        f"{'is' if failed_starts == 1 else 'are'} left out of these figures. "
        + ("Simulated calls are included. " if include_simulated else "Simulated calls are not. ")
        + "Refreshes every 10 seconds."
    )


live_kpis(period, include_simulated)

st.subheader(":material/call: Live calls")
live_calls_panel(empty_text="No call in progress.")


def _call_links(calls: list[Call], empty_text: str) -> None:
    if not calls:
        st.caption(empty_text)
    for call in calls:
        when = time_text(call.created_at, "%b %d, %H:%M")
        detail = call.emergency_type or (
            f"{call.duration_secs:.0f} s" if call.duration_secs is not None else call.status.value
        )
        st.page_link(
            "pages/conversations.py",
            label=f"{when} · {call.driver_name or 'Unknown driver'} · load "
            f"{or_empty(call.load_number)} · {detail}",
            query_params={"call": call.provider_call_id, "provider": call.provider.value},
            icon=":material/open_in_new:",
        )


@st.fragment(run_every="10s")
def attention() -> None:
    with queries.shown_errors():
        emergencies = queries.search(
            CallFilters(call_outcome=CallOutcome.EMERGENCY_ESCALATION.value), page_size=5
        )
        incomplete = queries.search(
            CallFilters(call_outcome=CallOutcome.INCOMPLETE.value), page_size=5
        )
    left, right = st.columns(2)
    with left:
        st.subheader(":material/emergency: Latest emergencies")
        _call_links(emergencies.items, "No emergencies reported.")
    with right:
        st.subheader(":material/pending: Latest incomplete calls")
        _call_links(incomplete.items, "No incomplete calls.")


attention()
