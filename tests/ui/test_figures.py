"""Figures a manager can trust: failed starts counted apart, times in the office's zone, "—"
for nothing, counts pluralised and with their shares, rates where engines differ in volume,
partial days marked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from db.models import CallMetrics, CallStatus, CallUpdate, DayCount, Provider
from settings import get_settings
from tests.ui.conftest import APP, AddCall
from tests.ui.test_pages import figures, metric_values, run_page, table
from ui.formatting import count_of, day_end, day_start
from ui.kpis import engine_table, partial_days


def add_failed_start(store, call_id: str, provider: Provider = Provider.RETELL) -> None:
    store.upsert_call(
        provider,
        call_id,
        CallUpdate(
            driver_id=store.ensure_driver("Never Reached"),
            status=CallStatus.ERROR,
            error="dial failed: busy",
            created_at=datetime.now(UTC) - timedelta(hours=2),
        ),
    )


def test_failed_starts_stay_out_of_the_dashboards_figures_and_are_counted_apart(
    store, add_call: AddCall, app: AppTest
) -> None:
    add_call(outcome="In-Transit Update")
    add_call(outcome="Incomplete")
    add_failed_start(store, "failed-1")
    run_page(app, "dashboard")
    assert metric_values(app)["Calls"] == "2"
    assert metric_values(app)["Completion rate"] == "50%"
    assert any("1 failed start (calls that never connected) is left out" in c.value
               for c in app.caption)  # fmt: skip


def test_failed_starts_stay_out_of_the_outcome_charts(
    store, add_call: AddCall, app: AppTest
) -> None:
    add_call(outcome="In-Transit Update")
    add_failed_start(store, "failed-1")
    add_failed_start(store, "failed-2")
    run_page(app, "analytics")
    assert metric_values(app)["Calls"] == "1"
    outcomes = next(f for f in figures(app) if f["data"][0].get("type") == "pie")
    assert outcomes["data"][0]["labels"] == ["In-Transit Update"]  # no "No outcome yet" slice
    assert any("2 failed starts (never connected) are not counted" in c.value for c in app.caption)


def test_times_show_in_the_offices_zone_and_date_filters_are_its_days(
    monkeypatch, store, add_call: AddCall, app: AppTest
) -> None:
    monkeypatch.setenv("DISPATCH_TIMEZONE", "America/Chicago")
    get_settings.cache_clear()
    # 03:30 UTC is the evening before in Chicago (21:30 CST or 22:30 CDT).
    utc_day = (datetime.now(UTC) - timedelta(days=3)).date()
    created = datetime(utc_day.year, utc_day.month, utc_day.day, 3, 30, tzinfo=UTC)
    call_id = add_call(age=datetime.now(UTC) - created)
    local_day = utc_day - timedelta(days=1)

    run_page(app, "conversations", **{"from": local_day.isoformat(), "to": local_day.isoformat()})
    rows = table(app)
    assert list(rows["Load"]) == ["7891-B"], "the call belongs to the evening before, locally"
    assert rows["Created"][0].startswith(f"{local_day.isoformat()} 2")  # 21:30 or 22:30
    fresh = AppTest.from_file(APP, default_timeout=60)
    run_page(fresh, "conversations", **{"from": utc_day.isoformat(), "to": utc_day.isoformat()})
    assert not fresh.dataframe or call_id not in str(table(fresh)["Call"].tolist())


def test_per_day_charts_count_the_offices_days_and_say_its_zone(
    monkeypatch, store, add_call: AddCall, app: AppTest
) -> None:
    from datetime import time
    from zoneinfo import ZoneInfo

    from db import open_store
    from tests.ui.conftest import NOW
    from ui.formatting import today

    monkeypatch.setenv("DISPATCH_TIMEZONE", "America/Chicago")
    get_settings.cache_clear()
    chicago = ZoneInfo("America/Chicago")
    office_day = today(chicago) - timedelta(days=2)
    late = datetime.combine(office_day, time(23, 30), tzinfo=chicago)  # the next day in UTC
    add_call(age=NOW - late)
    restarted = open_store(get_settings())  # a start with the new zone re-keys the rollups
    restarted.migrate()
    restarted.close()

    run_page(app, "analytics")
    title = "Retell calls per day by outcome"
    per_day = next(f for f in figures(app) if f["layout"]["title"]["text"] == title)
    assert per_day["layout"]["xaxis"]["title"]["text"] == "Day (America/Chicago)"
    assert [x for trace in per_day["data"] for x in trace["x"]] == [office_day.isoformat()]


def test_empty_cells_read_a_dash_not_none(add_call: AddCall, app: AppTest) -> None:
    add_call(outcome=None, driver_status=None, duration=None)
    run_page(app, "conversations")
    row = table(app).iloc[0]
    assert row["Outcome"] == "—" and row["Emergency"] == "—" and row["Duration"] == "—"
    assert "None" not in " ".join(str(v) for v in row.tolist())


@pytest.mark.parametrize(("count", "text"), [(0, "0 calls"), (1, "1 call"), (2000, "2,000 calls")])
def test_counts_are_pluralised(count: int, text: str) -> None:
    assert count_of(count, "call") == text


def test_office_days_are_whole_local_days_across_a_clock_change() -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    chicago = ZoneInfo("America/Chicago")
    spring_forward = date(2026, 3, 8)
    start, end = day_start(spring_forward, chicago), day_end(spring_forward, chicago)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    assert day_start(spring_forward, chicago).astimezone(UTC).hour == 6  # CST midnight


def metrics(calls: int, emergencies: int, delays: int, incomplete: int) -> CallMetrics:
    return CallMetrics(
        total_calls=calls, ended_calls=calls, avg_duration_secs=None, avg_sentiment=None,
        avg_interruptions=None, total_tokens=0,
        by_outcome={"In-Transit Update": calls - emergencies - incomplete,
                    "Emergency Escalation": emergencies, "Incomplete": incomplete},
        by_status={}, by_driver_status={"Delayed": delays}, by_emergency_type={}, per_day=[],
        keyword_totals={}, duration_histogram=[], avg_latency_ms=None,
    )  # fmt: skip


def test_compare_puts_rates_per_100_calls_side_by_side_not_only_counts() -> None:
    busy, quiet = metrics(200, 10, 20, 30), metrics(100, 5, 10, 15)
    table = dict(zip(*(engine_table(busy, quiet, (3, 1))[k] for k in ("Figure", "Retell")),
                     strict=True))  # fmt: skip
    other = dict(zip(*(engine_table(busy, quiet, (3, 1))[k] for k in ("Figure", "Pipecat")),
                     strict=True))  # fmt: skip
    assert table["Emergencies per 100 calls"] == other["Emergencies per 100 calls"] == "5.0"
    assert table["Completion rate"] == other["Completion rate"] == "85%"
    assert table["Delays"] == "20 (10%)"  # a count with its share
    assert table["Failed starts (not counted above)"] == "3"

    from ui.charts import engine_comparison

    bars = engine_comparison(busy, quiet).to_dict()["data"]
    assert list(bars[0]["y"]) == list(bars[1]["y"])  # same rates, though twice the calls


def test_donuts_show_counts_with_shares_and_skip_unsaid_keywords() -> None:
    from ui.charts import keyword_distribution, outcome_share

    outcomes = outcome_share({"In-Transit Update": 3, "Incomplete": 1}).to_dict()["data"][0]
    assert "%{value" in outcomes["texttemplate"] and "%{percent}" in outcomes["texttemplate"]
    keywords = keyword_distribution({"traffic": 4, "lumper": 0}).to_dict()["data"][0]
    assert list(keywords["labels"]) == ["traffic"]


def test_partial_days_are_marked_on_the_per_day_charts() -> None:
    from db.models import CallFilters
    from ui.charts import calls_per_day_by_outcome

    now = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
    window = CallFilters(created_from=datetime(2026, 11, 27, 6, tzinfo=UTC),
                         created_to=datetime(2026, 11, 30, 6, tzinfo=UTC))  # fmt: skip
    days = [DayCount(day=d, call_outcome="Incomplete", calls=1)
            for d in ("2026-11-27", "2026-11-28", "2026-11-29")]  # fmt: skip
    m = metrics(3, 0, 0, 3).model_copy(update={"per_day": days})
    partial = partial_days([m], window, now)
    assert partial == {"2026-11-27", "2026-11-29"}  # starts at 06:00; today so far
    bars = calls_per_day_by_outcome(days, partial_days=partial).to_dict()["data"][0]
    assert list(bars["x"]) == ["2026-11-27 (partial)", "2026-11-28", "2026-11-29 (partial)"]


def test_a_calls_keywords_list_only_words_that_were_said(add_call: AddCall, app: AppTest) -> None:
    call_id = add_call(keyword_hits={"traffic": 2, "lumper": 0})
    run_page(app, "conversations", call=call_id, provider="retell")
    said = [m.value for m in app.markdown]
    assert "traffic ×2" in said and not any("lumper" in text for text in said)


def test_the_duration_chart_is_binned_by_the_data(add_call: AddCall, app: AppTest) -> None:
    for secs in (35, 48, 52, 61, 75, 88, 96, 104, 117):  # all under two minutes
        add_call(duration=secs)
    run_page(app, "analytics")
    bars = next(f for f in figures(app) if f["layout"]["title"]["text"] == "Call duration")
    (trace,) = bars["data"]
    assert len(trace["x"]) > 4  # not two 60-second bars
    assert sum(trace["y"]) == 9 and trace["x"][0] == "35–40"
    assert any("(11%)" in text for text in trace["text"])  # counts with their shares
