"""From what the filter widgets hold to the Store's `CallFilters` (dates are whole UTC days)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from db.models import CallFilters, Provider

ENGINE_LABELS = {Provider.RETELL.value: "Retell", Provider.PIPECAT.value: "Pipecat"}


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def date_window(start: date | None, end: date | None) -> dict[str, datetime | None]:
    """Inclusive calendar days -> the Store's [created_from, created_to) datetimes."""
    return {
        "created_from": day_start(start) if start else None,
        "created_to": day_start(end) + timedelta(days=1) if end else None,
    }


def call_filters(
    *,
    query: str | None = None,
    engine: str | None = None,
    outcome: str | None = None,
    driver_status: str | None = None,
    emergency_type: str | None = None,
    driver: str | None = None,
    load_number: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> CallFilters:
    def text(value: str | None) -> str | None:
        return value.strip() or None if value else None

    return CallFilters(
        query=text(query),
        provider=Provider(engine) if engine else None,
        call_outcome=outcome or None,
        driver_status=driver_status or None,
        emergency_type=emergency_type or None,
        driver_name=text(driver),
        load_number=text(load_number),
        **date_window(start, end),
    )
