"""Analytics: each engine's SQL aggregates as stat cards and charts, and the two compared."""

from datetime import timedelta

import streamlit as st

from db.models import CallMetrics, Provider
from ui import charts, queries
from ui.filters import call_filters, include_simulated_switch
from ui.formatting import count_of, today, zone_label
from ui.kpis import engine_table, partial_days
from ui.page_setup import through_app_navigation

DEFAULT_DAYS = 7  # the last week; any range is one pick away
SCATTER_CALLS = queries.PAGE_ROWS  # the latest sessions as points: one page, never every row

through_app_navigation()
st.title("Analytics")

office_today = today()
window = st.date_input(
    f"Date range ({zone_label()})",
    value=(office_today - timedelta(days=DEFAULT_DAYS - 1), office_today),
    key="range",
    bind="query-params",
    max_value=office_today,
)
start, end = window if isinstance(window, tuple) and len(window) == 2 else (None, None)
include_simulated = include_simulated_switch()
# Figures count the calls that connected; failed starts are counted on their own.
filters = call_filters(
    start=start, end=end, failed_start=False, include_simulated=include_simulated
)
failed_filters = filters.model_copy(update={"failed_start": True})


def failed_starts_note(*failed: CallMetrics) -> None:
    count = sum(m.total_calls for m in failed)
    if count:
        st.caption(
            f"{count_of(count, 'failed start')} (never connected) "
            f"{'is' if count == 1 else 'are'} not counted in these figures."
        )


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "—" if value is None else fmt.format(value)


def stat_cards(m: CallMetrics) -> None:
    cards = st.columns(6)
    cards[0].metric("Calls", f"{m.total_calls:,}", border=True, help="Calls that connected")
    cards[1].metric("Avg duration", _num(m.avg_duration_secs, "{:.0f} s"), border=True)
    cards[2].metric("Emergencies", f"{m.emergencies:,}", border=True)
    cards[3].metric("Delays", f"{m.delays:,}", border=True)
    cards[4].metric("Avg interruptions", _num(m.avg_interruptions, "{:.2f}"), border=True)
    cards[5].metric("Avg sentiment", _num(m.avg_sentiment, "{:+.2f}"), border=True)


def empty_state(engine: str) -> None:
    if queries.total_calls() == 0:
        st.info(
            "No calls yet. Seed demo data with `python -m db seed --calls 2000` (or `make run`).",
            icon=":material/inbox:",
        )
    else:
        st.info(f"No {engine} calls in this date range.", icon=":material/inbox:")


def engine_charts(m: CallMetrics, engine: str) -> None:
    if m.total_calls == 0:
        empty_state(engine)
        return
    st.plotly_chart(
        charts.calls_per_day_by_outcome(
            m.per_day,
            f"{engine} calls per day by outcome",
            partial_days([m], filters),
            zone=zone_label(),
        ),
        key=f"{engine}-per-day",
    )
    left, right = st.columns(2)
    left.plotly_chart(charts.outcome_share(m.by_outcome), key=f"{engine}-outcomes")
    right.plotly_chart(charts.keyword_distribution(m.keyword_totals), key=f"{engine}-keywords")
    histogram = queries.duration_histogram(filters, Provider(engine.lower()))
    st.plotly_chart(charts.duration_distribution(histogram), key=f"{engine}-duration")


retell_tab, pipecat_tab, compare_tab = st.tabs(
    ["Retell", "Pipecat", "Compare"], key="tab", on_change="rerun", bind="query-params"
)

if retell_tab.open:
    with retell_tab, queries.shown_errors():
        retell, failed = queries.metrics_of(
            [(filters, Provider.RETELL), (failed_filters, Provider.RETELL)]
        )
        stat_cards(retell)
        failed_starts_note(failed)
        if retell.avg_latency_ms is not None:
            st.caption(f"Average end-to-end latency (p50): {retell.avg_latency_ms:.0f} ms")
        engine_charts(retell, "Retell")

if pipecat_tab.open:
    with pipecat_tab, queries.shown_errors():
        sessions = queries.pipecat(filters, page=1, page_size=SCATTER_CALLS)
        stat_cards(sessions.aggregates)
        failed_starts_note(queries.metrics(failed_filters, Provider.PIPECAT))
        if sessions.aggregates.avg_latency_ms is not None:
            st.caption(
                f"Average end-to-end latency (p50): {sessions.aggregates.avg_latency_ms:.0f} ms"
            )
        engine_charts(sessions.aggregates, "Pipecat")
        if sessions.items:
            st.plotly_chart(
                charts.interruptions_vs_duration(sessions.items), key="pipecat-interruptions"
            )

if compare_tab.open:
    with compare_tab, queries.shown_errors():
        retell, pipecat, retell_failed, pipecat_failed = queries.metrics_of(
            [
                (filters, Provider.RETELL),
                (filters, Provider.PIPECAT),
                (failed_filters, Provider.RETELL),
                (failed_filters, Provider.PIPECAT),
            ]
        )
        if retell.total_calls + pipecat.total_calls == 0:
            empty_state("Retell or Pipecat")
            st.stop()
        failed = (retell_failed.total_calls, pipecat_failed.total_calls)
        st.table(engine_table(retell, pipecat, failed), hide_index=True, border="horizontal")
        st.plotly_chart(charts.engine_comparison(retell, pipecat), key="compare-counts")
        st.plotly_chart(
            charts.calls_per_day_by_engine(
                retell, pipecat, partial_days([retell, pipecat], filters), zone=zone_label()
            ),
            key="compare-per-day",
        )
        if retell.avg_latency_ms is not None or pipecat.avg_latency_ms is not None:
            st.plotly_chart(charts.latency_by_engine(retell, pipecat), key="compare-latency")
            st.plotly_chart(
                charts.latency_over_time(queries.latency_trend(filters), zone=zone_label()),
                key="compare-trend",
            )
        else:
            st.caption("No latency figures reported yet.")
