"""Per-day figures are days in the office's zone (DISPATCH_TIMEZONE) on every backend: a call at
23:30 in the office counts on that office day, before and after a change to daylight time, read
from the daily rollups, from scanned edge days, and after DISPATCH_TIMEZONE changes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from db.models import CallFilters, CallMetrics, CallUpdate, Provider
from db.office_days import UnknownTimezone, offset_changes
from db.store import Store

OFFICE = ZoneInfo("America/Chicago")  # daylight time from 2026-03-08 02:00
# The office's clock -> how many calls; each call's UTC day is a different one than its office day
# except at 00:30 on the 9th.
CALLS = {
    datetime(2026, 3, 7, 23, 30, tzinfo=OFFICE): 1,  # 05:30 UTC on the 8th (CST)
    datetime(2026, 3, 8, 23, 30, tzinfo=OFFICE): 2,  # 04:30 UTC on the 9th (CDT)
    datetime(2026, 3, 9, 0, 30, tzinfo=OFFICE): 3,  # 05:30 UTC on the 9th
    datetime(2026, 3, 9, 19, 30, tzinfo=OFFICE): 1,  # 00:30 UTC on the 10th
}
OFFICE_DAYS = {"2026-03-07": 1, "2026-03-08": 2, "2026-03-09": 4}


def office_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=OFFICE)


@pytest.fixture(params=["sqlite", "postgres", "supabase"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    """Stores with a given office zone on one fresh database of the backend."""
    opened: list[Store] = []
    if request.param == "sqlite":
        from db.sqlite_store import SqliteStore

        def make(zone: str) -> Store:
            opened.append(SqliteStore(tmp_path / "days.db", office_timezone=zone))
            return opened[-1]

        yield make
    else:
        from db.postgres_store import PostgresStore

        url = request.getfixturevalue("postgres_database")()
        if request.param == "postgres":

            def make(zone: str) -> Store:
                opened.append(PostgresStore(url, office_timezone=zone))
                return opened[-1]

            yield make
        else:
            from db.supabase_store import SupabaseStore
            from tests.db.postgrest_double import PostgrestDouble
            from tests.db.test_supabase_store import serve

            opened.append(PostgresStore(url))
            opened[-1].migrate()  # PostgREST runs no DDL
            for double in serve(PostgrestDouble(url)):

                def make(zone: str, double: PostgrestDouble = double) -> Store:
                    store = SupabaseStore(double.url, double.service_role_key, office_timezone=zone)
                    opened.append(store)
                    return store

                yield make
    for store in opened:
        store.close()


def add_calls(store: Store, *, bulk: bool) -> None:
    rows = [
        (Provider.RETELL, f"c-{at:%d%H%M}-{n}", CallUpdate(created_at=at, load_number="L-1"))
        for at, count in CALLS.items()
        for n in range(count)
    ]
    if bulk:
        store.bulk_insert_calls(rows)
    else:
        for provider, call_id, update in rows:
            store.upsert_call(provider, call_id, update)


def per_day(metrics: CallMetrics) -> dict[str, int]:
    days: dict[str, int] = {}
    for row in metrics.per_day:
        days[row.day] = days.get(row.day, 0) + row.calls
    return days


@pytest.mark.parametrize("bulk", [False, True], ids=["one by one", "bulk"])
def test_a_call_at_2330_in_the_office_counts_on_that_office_day_across_daylight_time(
    open_store: Callable[[str], Store], bulk: bool
) -> None:
    store = open_store(OFFICE.key)
    store.migrate()
    add_calls(store, bulk=bulk)

    assert per_day(store.retell_metrics(CallFilters())) == OFFICE_DAYS
    # The office's 8 March (23 hours long) from a date filter: whole days, edges, both at once.
    the_8th = CallFilters(
        created_from=office_midnight(date(2026, 3, 8)),
        created_to=office_midnight(date(2026, 3, 9)),
    )
    assert per_day(store.retell_metrics(the_8th)) == {"2026-03-08": 2}
    from_the_7th_at_noon = CallFilters(
        created_from=datetime(2026, 3, 7, 12, tzinfo=OFFICE),
        created_to=datetime(2026, 3, 9, 12, tzinfo=OFFICE),
    )
    assert per_day(store.retell_metrics(from_the_7th_at_noon)) == {
        "2026-03-07": 1,
        "2026-03-08": 2,
        "2026-03-09": 3,
    }
    # A filter the rollups do not carry scans the calls, with the same days.
    assert per_day(store.retell_metrics(CallFilters(load_number="L-1"))) == OFFICE_DAYS


def test_latency_per_day_is_per_office_day(open_store: Callable[[str], Store]) -> None:
    store = open_store(OFFICE.key)
    store.migrate()
    late = datetime(2026, 3, 8, 23, 30, tzinfo=OFFICE)
    store.upsert_call(
        Provider.PIPECAT, "p-1", CallUpdate(created_at=late, latency={"e2e_p50_ms": 700})
    )
    assert [d.day for d in store.latency_trend(CallFilters())] == ["2026-03-08"]


def test_changing_the_office_zone_never_gives_another_zones_days(
    open_store: Callable[[str], Store],
) -> None:
    utc_office = open_store("UTC")
    utc_office.migrate()
    add_calls(utc_office, bulk=True)
    utc_days = {"2026-03-08": 1, "2026-03-09": 5, "2026-03-10": 1}
    assert per_day(utc_office.retell_metrics(CallFilters())) == utc_days

    moved = open_store(OFFICE.key)  # DISPATCH_TIMEZONE changed, rollups still keyed to UTC
    assert per_day(moved.retell_metrics(CallFilters())) == OFFICE_DAYS
    moved.migrate()  # every start migrates: the rollups are re-keyed to the office's days
    assert per_day(moved.retell_metrics(CallFilters())) == OFFICE_DAYS
    moved.upsert_call(
        Provider.RETELL, "after", CallUpdate(created_at=datetime(2026, 3, 9, 23, 45, tzinfo=OFFICE))
    )
    assert per_day(moved.retell_metrics(CallFilters()))["2026-03-09"] == 5
    # A process still configured with the old zone answers in its own zone's days, not the others'.
    assert per_day(utc_office.retell_metrics(CallFilters())) == {
        "2026-03-08": 1,
        "2026-03-09": 5,
        "2026-03-10": 2,
    }
    assert moved.migrate() == []


def test_the_rollups_keep_the_office_days_after_a_rekey_on_sqlite(tmp_path: Path) -> None:
    from db.sqlite_store import SqliteStore

    path = tmp_path / "rekey.db"
    first = SqliteStore(path)
    first.migrate()
    add_calls(first, bulk=False)
    first.close()
    store = SqliteStore(path, office_timezone=OFFICE.key)
    store.migrate()
    with sqlite3.connect(path) as conn:
        days = dict(conn.execute("SELECT day, sum(calls) FROM calllog_daily GROUP BY day"))
        assert conn.execute("SELECT zone FROM calllog_rollup_zone").fetchone() == (OFFICE.key,)
    assert days == OFFICE_DAYS
    store.close()


def test_an_unknown_zone_is_refused_with_its_name() -> None:
    from db.sqlite_store import SqliteStore

    with pytest.raises(UnknownTimezone, match="Mars/Olympus"):
        SqliteStore(":memory:", office_timezone="Mars/Olympus")


def test_offsets_follow_the_zone_database() -> None:
    changes = dict(offset_changes(OFFICE.key))
    assert changes[""] == -6 * 3600
    assert changes["2026-03-08T08:00:00.000000Z"] == -5 * 3600  # 02:00 CST
    assert changes["2026-11-01T07:00:00.000000Z"] == -6 * 3600  # 02:00 CDT
    assert offset_changes("Asia/Kolkata") == (("", 5 * 3600 + 1800),)
