"""Dashboard KPIs: one period's figures from the two engines' SQL aggregates, and the
comparison with the period before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from db.models import CallFilters, CallMetrics

# An operations view: today against yesterday first; longer periods are one click away.
DEFAULT_PERIOD = "Last 24 hours"
PERIODS: dict[str, timedelta] = {
    "Last 24 hours": timedelta(hours=24),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
}


@dataclass(frozen=True)
class PeriodSummary:
    calls: int
    completion_rate: float | None  # calls that reached an outcome other than Incomplete
    emergencies: int
    delays: int
    avg_duration_secs: float | None
    retell_share: float | None  # share of the period's calls that went through Retell

    @classmethod
    def of(cls, retell: CallMetrics, pipecat: CallMetrics) -> PeriodSummary:
        calls = retell.total_calls + pipecat.total_calls
        completed = sum(sum(m.by_outcome.values()) - m.incomplete for m in (retell, pipecat))
        return cls(
            calls=calls,
            completion_rate=completed / calls if calls else None,
            emergencies=retell.emergencies + pipecat.emergencies,
            delays=retell.delays + pipecat.delays,
            avg_duration_secs=_weighted_duration(retell, pipecat),
            retell_share=retell.total_calls / calls if calls else None,
        )


def _weighted_duration(*metrics: CallMetrics) -> float | None:
    known = [
        (m.avg_duration_secs, m.ended_calls) for m in metrics if m.avg_duration_secs is not None
    ]
    weight = sum(n for _, n in known)
    if not known or weight == 0:
        return None
    return sum(avg * n for avg, n in known) / weight


def period_filters(
    length: timedelta, now: datetime | None = None
) -> tuple[CallFilters, CallFilters]:
    """(current, previous) windows of `length`, ending at the next whole minute so the cache key
    stays the same for a minute."""
    now = now or datetime.now(UTC)
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    current = CallFilters(created_from=end - length, created_to=end)
    previous = CallFilters(created_from=end - 2 * length, created_to=end - length)
    return current, previous


def delta(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    return current - previous


def share_delta_text(current: float | None, previous: float | None) -> str | None:
    change = delta(current, previous)
    return None if change is None else f"{change * 100:+.1f} pts"


def daily_calls(*metrics: CallMetrics, outcome: str | None = None) -> list[int]:
    """Calls per day (oldest first) over the engines, optionally only those with `outcome`."""
    days: dict[str, int] = {}
    for m in metrics:
        for row in m.per_day:
            matched = outcome is None or row.call_outcome == outcome
            days[row.day] = days.get(row.day, 0) + (row.calls if matched else 0)
    return [days[day] for day in sorted(days)]


def engine_table(retell: CallMetrics, pipecat: CallMetrics) -> dict[str, list[str]]:
    """The two engines' figures side by side, formatted for a static table."""

    def fmt(value: float | None, pattern: str) -> str:
        return "—" if value is None else pattern.format(value)

    rows = {
        "Calls": lambda m: f"{m.total_calls:,}",
        "Emergencies": lambda m: f"{m.emergencies:,}",
        "Delays": lambda m: f"{m.delays:,}",
        "Incomplete": lambda m: f"{m.incomplete:,}",
        "Average duration": lambda m: fmt(m.avg_duration_secs, "{:.0f} s"),
        "Average interruptions": lambda m: fmt(m.avg_interruptions, "{:.2f}"),
        "Average sentiment": lambda m: fmt(m.avg_sentiment, "{:+.2f}"),
        "Average latency (p50)": lambda m: fmt(m.avg_latency_ms, "{:.0f} ms"),
        "Tokens": lambda m: f"{m.total_tokens:,}",
    }
    return {
        "Figure": list(rows),
        "Retell": [row(retell) for row in rows.values()],
        "Pipecat": [row(pipecat) for row in rows.values()],
    }
