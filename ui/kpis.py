"""Dashboard KPIs: one period's figures from the two engines' SQL aggregates, and the
comparison with the period before."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from db.models import CallFilters, CallMetrics
from ui.formatting import day_end, day_start

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
    length: timedelta, now: datetime | None = None, *, include_simulated: bool = False
) -> tuple[CallFilters, CallFilters]:
    """(current, previous) windows of `length`, ending at the next whole minute so the cache key
    stays the same for a minute; simulated calls counted only when included."""
    now = now or datetime.now(UTC)
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    # Figures count calls that connected; failed starts are counted on their own.
    current = CallFilters(
        created_from=end - length,
        created_to=end,
        failed_start=False,
        include_simulated=include_simulated,
    )
    previous = CallFilters(
        created_from=end - 2 * length,
        created_to=end - length,
        failed_start=False,
        include_simulated=include_simulated,
    )
    return current, previous


def delta(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    return current - previous


def share_delta_text(current: float | None, previous: float | None) -> str | None:
    change = delta(current, previous)
    return None if change is None else f"{change * 100:+.1f} pts"


def daily_calls(
    *metrics: CallMetrics,
    outcome: str | None = None,
    within: CallFilters | None = None,
    zone: ZoneInfo | None = None,
) -> list[int]:
    """Calls per office day (oldest first) over the engines, optionally only with `outcome`.

    With `within`, only the days wholly inside its window: the window's first and last days
    (today so far) are partial, and a partial day's low count would read as a drop."""
    days: dict[str, int] = {}
    for m in metrics:
        for row in m.per_day:
            matched = outcome is None or row.call_outcome == outcome
            days[row.day] = days.get(row.day, 0) + (row.calls if matched else 0)
    if within is not None:
        days = {day: n for day, n in days.items() if is_whole_day(day, within, zone)}
    return [days[day] for day in sorted(days)]


def partial_days(
    metrics: Sequence[CallMetrics],
    window: CallFilters,
    now: datetime | None = None,
    zone: ZoneInfo | None = None,
) -> set[str]:
    """The office days of these figures that the window (cut at now) only partly covers: the
    charts mark them, so today so far does not read as a quiet day."""
    until = now or datetime.now(UTC)
    if window.created_to is not None:
        until = min(until, window.created_to)
    cut = window.model_copy(update={"created_to": until})
    days = {row.day for m in metrics for row in m.per_day}
    return {day for day in days if not is_whole_day(day, cut, zone)}


def is_whole_day(day: str, window: CallFilters, zone: ZoneInfo | None = None) -> bool:
    """Whether the office day `YYYY-MM-DD` (23 to 25 hours) lies wholly inside the window's
    [from, to)."""
    office_day = date.fromisoformat(day)
    start, end = day_start(office_day, zone), day_end(office_day, zone)
    inside_from = window.created_from is None or _aware(window.created_from) <= start
    inside_to = window.created_to is None or end <= _aware(window.created_to)
    return inside_from and inside_to


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def per_100(count: int, calls: int) -> float | None:
    return 100 * count / calls if calls else None


def completion_rate(m: CallMetrics) -> float | None:
    """Share of the calls that reached an outcome other than Incomplete."""
    completed = sum(m.by_outcome.values()) - m.incomplete
    return completed / m.total_calls if m.total_calls else None


def engine_table(
    retell: CallMetrics, pipecat: CallMetrics, failed: tuple[int, int] = (0, 0)
) -> dict[str, list[str]]:
    """The two engines side by side: rates first (the engines handle different numbers of
    calls), then counts with their share of the engine's calls, formatted for a static table.
    `failed` is each engine's failed starts, which are not among its calls."""

    def fmt(value: float | None, pattern: str) -> str:
        return "—" if value is None else pattern.format(value)

    def count(value: int, m: CallMetrics) -> str:
        share = per_100(value, m.total_calls)
        return f"{value:,}" if share is None else f"{value:,} ({share:.0f}%)"

    rows = {
        "Calls (connected)": lambda m: f"{m.total_calls:,}",
        "Completion rate": lambda m: fmt(completion_rate(m), "{:.0%}"),
        "Emergencies per 100 calls": lambda m: fmt(per_100(m.emergencies, m.total_calls), "{:.1f}"),
        "Delays per 100 calls": lambda m: fmt(per_100(m.delays, m.total_calls), "{:.1f}"),
        "Incomplete per 100 calls": lambda m: fmt(per_100(m.incomplete, m.total_calls), "{:.1f}"),
        "Average latency (p50)": lambda m: fmt(m.avg_latency_ms, "{:.0f} ms"),
        "Average duration": lambda m: fmt(m.avg_duration_secs, "{:.0f} s"),
        "Average interruptions": lambda m: fmt(m.avg_interruptions, "{:.2f}"),
        "Average sentiment": lambda m: fmt(m.avg_sentiment, "{:+.2f}"),
        "Emergencies": lambda m: count(m.emergencies, m),
        "Delays": lambda m: count(m.delays, m),
        "Incomplete": lambda m: count(m.incomplete, m),
        "Tokens": lambda m: f"{m.total_tokens:,}",
    }
    table = {
        "Figure": list(rows),
        "Retell": [row(retell) for row in rows.values()],
        "Pipecat": [row(pipecat) for row in rows.values()],
    }
    table["Figure"].append("Failed starts (not counted above)")
    table["Retell"].append(f"{failed[0]:,}")
    table["Pipecat"].append(f"{failed[1]:,}")
    return table
