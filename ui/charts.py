"""Plotly figures built from the Store's SQL aggregates (pure functions: metrics in, figure out).

Outcome colours are fixed so one outcome looks the same in every chart.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from agent.vocabulary import CallOutcome
from db.models import CallMetrics, DayCount, LatencyDay, PipecatMetricItem

OUTCOME_COLORS: dict[str, str] = {
    CallOutcome.IN_TRANSIT_UPDATE.value: "#1f6feb",
    CallOutcome.ARRIVAL_CONFIRMATION.value: "#2da44e",
    CallOutcome.EMERGENCY_ESCALATION.value: "#cf222e",
    CallOutcome.INCOMPLETE.value: "#8c959f",
}
NO_OUTCOME = "No outcome yet"
ENGINE_COLORS = {"Retell": "#1f6feb", "Pipecat": "#8250df"}


def _layout(fig: go.Figure, title: str, **extra: Any) -> go.Figure:
    fig.update_layout(
        title=title,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.2},
        **extra,
    )
    return fig


def _outcome_order(outcomes: Sequence[str]) -> list[str]:
    known = [o for o in OUTCOME_COLORS if o in outcomes]
    return known + sorted(o for o in outcomes if o not in OUTCOME_COLORS)


def day_label(day: str, partial_days: Collection[str]) -> str:
    """A day on an axis; one the data only partly covers (today so far) says so."""
    return f"{day} (partial)" if day in partial_days else day


def day_axis(zone: str) -> str:
    """The per-day charts' axis: the days are the office's, in its zone (DISPATCH_TIMEZONE)."""
    return f"Day ({zone})"


def calls_per_day_by_outcome(
    per_day: Sequence[DayCount],
    title: str = "Calls per day",
    partial_days: Collection[str] = (),
    zone: str = "UTC",
) -> go.Figure:
    """Stacked bars: one trace per outcome, x = office day; partial days labelled and hatched."""
    days = sorted({d.day for d in per_day})
    counts: dict[str, dict[str, int]] = {}
    for row in per_day:
        outcome = row.call_outcome or NO_OUTCOME
        counts.setdefault(outcome, {})[row.day] = (
            counts.get(outcome, {}).get(row.day, 0) + row.calls
        )
    fig = go.Figure()
    for outcome in _outcome_order(list(counts)):
        fig.add_bar(
            name=outcome,
            x=[day_label(day, partial_days) for day in days],
            y=[counts[outcome].get(day, 0) for day in days],
            marker_color=OUTCOME_COLORS.get(outcome, "#d0d7de"),
            marker_pattern_shape=["/" if day in partial_days else "" for day in days],
        )
    return _layout(fig, title, barmode="stack", xaxis_title=day_axis(zone), yaxis_title="Calls")


def _donut(labels: list[str], values: list[int], colors: list[str] | None = None) -> go.Pie:
    """A donut whose slices say their count and their share."""
    return go.Pie(
        labels=labels,
        values=values,
        hole=0.5,
        marker={"colors": colors} if colors else None,
        sort=False,
        texttemplate="%{value:,}<br>%{percent}",
        hovertemplate="%{label}: %{value:,} (%{percent})<extra></extra>",
    )


def outcome_share(by_outcome: Mapping[str | None, int], title: str = "Outcome share") -> go.Figure:
    labels = _outcome_order([k or NO_OUTCOME for k, v in by_outcome.items() if v])
    values_by_label = {(k or NO_OUTCOME): v for k, v in by_outcome.items()}
    colors = [OUTCOME_COLORS.get(label, "#d0d7de") for label in labels]
    fig = go.Figure(_donut(labels, [values_by_label[label] for label in labels], colors))
    return _layout(fig, title)


def keyword_distribution(
    keyword_totals: Mapping[str, int], title: str = "Keywords mentioned", top: int = 10
) -> go.Figure:
    """The most mentioned keywords; a keyword nobody said is not listed."""
    ranked = sorted(((k, v) for k, v in keyword_totals.items() if v), key=lambda kv: -kv[1])[:top]
    fig = go.Figure(_donut([k for k, _ in ranked], [v for _, v in ranked]))
    return _layout(fig, title)


def duration_distribution(
    histogram: Sequence[Mapping[str, Any]], title: str = "Call duration"
) -> go.Figure:
    """Bars of calls per duration bin (bins chosen by the data), each with its share."""
    labels = [_bucket_label(b) for b in histogram]
    counts = [int(b["calls"]) for b in histogram]
    total = sum(counts) or 1
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=counts,
            marker_color="#1f6feb",
            text=[f"{n:,} ({n / total:.0%})" if n else "" for n in counts],
            textposition="outside",
            hovertemplate="%{x} s: %{y:,} calls<extra></extra>",
        )
    )
    return _layout(fig, title, xaxis_title="Duration (seconds)", yaxis_title="Calls", bargap=0.05)


def _bucket_label(bucket: Mapping[str, Any]) -> str:
    start = f"{float(bucket['bucket_start_secs']):g}"
    end = bucket.get("bucket_end_secs")
    return f"{start}+" if end is None else f"{start}–{float(end):g}"


def interruptions_vs_duration(
    items: Sequence[PipecatMetricItem], title: str = "Duration by interruptions (latest calls)"
) -> go.Figure:
    """Interruptions are a small count (0, 1, 2...): one box of call durations per count, with
    its calls as points, reads better than a scatter of a few rows of dots."""
    points = [i for i in items if i.duration_secs is not None and i.interruptions_est is not None]
    fig = go.Figure()
    for count in sorted({p.interruptions_est for p in points}):
        same = [p for p in points if p.interruptions_est == count]
        fig.add_box(
            name=f"{count} ({len(same)} call{'' if len(same) == 1 else 's'})",
            y=[p.duration_secs for p in same],
            text=[p.provider_call_id for p in same],
            boxpoints="all",
            jitter=0.4,
            pointpos=0,
            marker={"color": "#8250df", "opacity": 0.6},
            line={"color": "#8250df"},
            showlegend=False,
        )
    return _layout(fig, title, xaxis_title="Interruptions per call", yaxis_title="Duration (s)")


def engine_comparison(retell: CallMetrics, pipecat: CallMetrics) -> go.Figure:
    """Grouped bars of rates per 100 calls: the engines handle different numbers of calls, so
    raw counts side by side would mostly compare their volumes."""

    def rate(count: int, m: CallMetrics) -> float | None:
        return round(100 * count / m.total_calls, 1) if m.total_calls else None

    measures = {
        "Completed": lambda m: rate(sum(m.by_outcome.values()) - m.incomplete, m),
        "Emergencies": lambda m: rate(m.emergencies, m),
        "Delays": lambda m: rate(m.delays, m),
        "Incomplete": lambda m: rate(m.incomplete, m),
    }
    fig = go.Figure()
    for engine, m in (("Retell", retell), ("Pipecat", pipecat)):
        fig.add_bar(
            name=f"{engine} ({m.total_calls:,} call{'' if m.total_calls == 1 else 's'})",
            x=list(measures),
            y=[measure(m) for measure in measures.values()],
            marker_color=ENGINE_COLORS[engine],
            texttemplate="%{y:.1f}",
        )
    return _layout(
        fig, "Per 100 calls: Retell vs Pipecat", barmode="group", yaxis_title="Per 100 calls"
    )


def latency_by_engine(retell: CallMetrics, pipecat: CallMetrics) -> go.Figure:
    """Mean end-to-end latency per engine, only for engines that reported it."""
    known = [(e, m.avg_latency_ms) for e, m in (("Retell", retell), ("Pipecat", pipecat))]
    known = [(e, v) for e, v in known if v is not None]
    fig = go.Figure(
        go.Bar(
            x=[e for e, _ in known],
            y=[v for _, v in known],
            marker_color=[ENGINE_COLORS[e] for e, _ in known],
        )
    )
    return _layout(fig, "Average latency (ms, where known)", yaxis_title="ms")


def latency_over_time(trend: Sequence[LatencyDay], zone: str = "UTC") -> go.Figure:
    """Each engine's voice latency per office day: p50 solid, p90 dotted, on one scale (ms)."""
    fig = go.Figure()
    for provider, engine in (("retell", "Retell"), ("pipecat", "Pipecat")):
        days = [d for d in trend if d.provider.value == provider]
        if not days:
            continue
        for stat, dash in (("p50", "solid"), ("p90", "dot")):
            values = [getattr(d, f"e2e_{stat}_ms") for d in days]
            if all(v is None for v in values):
                continue
            fig.add_scatter(
                name=f"{engine} {stat}",
                x=[d.day for d in days],
                y=values,
                mode="lines+markers",
                line={"color": ENGINE_COLORS[engine], "dash": dash},
            )
    return _layout(
        fig,
        "Voice latency per day: end of speech to first audio (ms)",
        xaxis_title=day_axis(zone),
        yaxis_title="ms",
    )


def calls_per_day_by_engine(
    retell: CallMetrics,
    pipecat: CallMetrics,
    partial_days: Collection[str] = (),
    zone: str = "UTC",
) -> go.Figure:
    fig = go.Figure()
    for engine, m in (("Retell", retell), ("Pipecat", pipecat)):
        per_day: dict[str, int] = {}
        for row in m.per_day:
            per_day[row.day] = per_day.get(row.day, 0) + row.calls
        days = sorted(per_day)
        fig.add_scatter(
            name=engine,
            x=[day_label(d, partial_days) for d in days],
            y=[per_day[d] for d in days],
            mode="lines+markers",
            line={"color": ENGINE_COLORS[engine]},
            marker={"symbol": ["circle-open" if d in partial_days else "circle" for d in days]},
        )
    return _layout(fig, "Calls per day by engine", xaxis_title=day_axis(zone), yaxis_title="Calls")
