"""SQL for reading `calllog` on SQLite: filters, sorting, paging and the metrics aggregates.

Every aggregate runs in SQLite (GROUP BY, SUM, AVG); Python only shapes the grouped rows.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from db import histogram
from db.models import (
    Call,
    CallFilters,
    CallMetrics,
    CallStatus,
    DayCount,
    LatencyDay,
    Provider,
    SortKey,
)
from db.office_days import day_of, day_start, first_whole_day, offset_changes
from db.sqlite_fulltext import fts_match_expression

log = logging.getLogger(__name__)

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
DURATION_BUCKET_SECS = 60  # width of each duration_histogram bucket

CALL_COLUMNS = ", ".join(
    "d.name AS driver_name" if name == "driver_name" else f"c.{name}" for name in Call.model_fields
)
CALLS_FROM = "calllog AS c LEFT JOIN drivers AS d ON d.id = c.driver_id"

ORDER_BY: dict[str, str] = {
    "-created_at": "c.created_at DESC, c.id DESC",
    "created_at": "c.created_at ASC, c.id ASC",
    "-duration_secs": "c.duration_secs DESC NULLS LAST, c.id DESC",
    "duration_secs": "c.duration_secs ASC NULLS LAST, c.id ASC",
}


def to_timestamp(value: datetime) -> str:
    """UTC text that sorts like the instant it names (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def order_by(sort: SortKey) -> str:
    try:
        return ORDER_BY[sort]
    except KeyError:
        raise ValueError(f"sort must be one of {sorted(ORDER_BY)}, not {sort!r}") from None


def where(
    filters: CallFilters, *, provider: Provider | None = None, figure: bool = False
) -> tuple[str, list[Any]]:
    """WHERE clause over `calllog AS c` and its parameters; `provider` overrides the filter's.
    A figure's clause leaves out simulated calls unless the filters include them."""
    conditions: list[str] = []
    params: list[Any] = []
    if filters.query is not None and filters.query.strip():
        match = fts_match_expression(filters.query)
        if match is None:  # only punctuation or stop words: nothing can match
            conditions.append("0")
        else:
            conditions.append("c.id IN (SELECT rowid FROM calllog_fts WHERE calllog_fts MATCH ?)")
            params.append(match)
    equalities = {
        "c.provider": provider or filters.provider,
        "c.status": filters.status,
        "c.call_outcome": filters.call_outcome,
        "c.driver_status": filters.driver_status,
        "c.emergency_type": filters.emergency_type,
        "c.driver_id": filters.driver_id,
        "c.load_number": filters.load_number,
        "c.on_time_status": filters.on_time_status,
    }
    for column, value in equalities.items():
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value.value if hasattr(value, "value") else value)
    if filters.failed_start is not None:
        conditions.append(_failed_start_condition("c.status", filters.failed_start))
    if figure and not filters.include_simulated:
        conditions.append(f"{SIMULATED.format(row='c')} = 0")
    if filters.driver_name:
        pattern = filters.driver_name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(
            "c.driver_id IN (SELECT id FROM drivers WHERE unicode_lower(name) LIKE ? ESCAPE '\\')"
        )
        params.append(f"%{pattern.lower()}%")
    if filters.created_from is not None:
        conditions.append("c.created_at >= ?")
        params.append(to_timestamp(filters.created_from))
    if filters.created_to is not None:
        conditions.append("c.created_at < ?")
        params.append(to_timestamp(filters.created_to))
    return (" AND ".join(conditions) or "1"), params


# 1 for a simulated call, 0 otherwise (never NULL), as the rollups' `simulated` key holds it.
SIMULATED = "({row}.call_type IS 'simulated')"


def _failed_start_condition(column: str, failed: bool) -> str:
    return f"{column} {'=' if failed else '<>'} '{CallStatus.ERROR.value}'"


# Tables of a zone's UTC offsets over time (db/office_days.py): the rollups' zone, kept with
# them (sqlite_0015_office_days.sql), and the Store's own zone, a table of each connection.
ROLLUP_OFFSETS = "calllog_rollup_offsets"
SCAN_OFFSETS = "temp.office_offsets"


def office_day(column: str, offsets: str = SCAN_OFFSETS) -> str:
    """SQL for the office's date (YYYY-MM-DD) of the instant in `column`."""
    return (
        f"date({column}, (SELECT o.offset_secs FROM {offsets} AS o WHERE o.starts_at <= {column}"
        f" ORDER BY o.starts_at DESC LIMIT 1) || ' seconds')"
    )


def add_scan_offsets(conn: sqlite3.Connection, zone: ZoneInfo) -> None:
    """The connection's table of the Store's zone, which its scans read."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS office_offsets "
        "(starts_at TEXT PRIMARY KEY, offset_secs INTEGER NOT NULL) WITHOUT ROWID"
    )
    conn.execute("DELETE FROM temp.office_offsets")
    conn.executemany(
        "INSERT INTO temp.office_offsets (starts_at, offset_secs) VALUES (?, ?)",
        offset_changes(zone.key),
    )


def rollups_zone(conn: sqlite3.Connection) -> str:
    return conn.execute("SELECT zone FROM calllog_rollup_zone").fetchone()[0]


def key_rollups_to(conn: sqlite3.Connection, zone: ZoneInfo) -> bool:
    """Key the rollups on days in `zone`, rebuilt from the calls; False when they already are.
    Also builds rollups never built (a migration made the tables after the calls were stored).
    Runs inside the caller's write transaction: readers see the old rollups or the new ones."""
    unbuilt = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM calllog) AND NOT EXISTS (SELECT 1 FROM calllog_daily)"
    ).fetchone()[0]
    if rollups_zone(conn) == zone.key and not unbuilt:
        return False
    conn.execute("UPDATE calllog_rollup_zone SET zone = ?", (zone.key,))
    conn.execute(f"DELETE FROM {ROLLUP_OFFSETS}")
    conn.executemany(
        f"INSERT INTO {ROLLUP_OFFSETS} (starts_at, offset_secs) VALUES (?, ?)",
        offset_changes(zone.key),
    )
    conn.execute("DELETE FROM calllog_daily")
    conn.execute("DELETE FROM calllog_daily_keywords")
    for statement in ROLLUP_ADD_NEW_CALLS:
        conn.execute(statement, (0,))
    return True


# Counts and sums per group, the shape shared by raw scans and the calllog_daily rollup.
GROUP_SUMS = (
    "calls",
    "duration_n",
    "duration_sum",
    "sentiment_n",
    "sentiment_sum",
    "interruptions_n",
    "interruptions_sum",
    "tokens_sum",
    "latency_n",
    "latency_sum",
)
# GROUP_SUMS over a group of calls.
GROUP_SUMS_SQL = """count(*), count(duration_secs), coalesce(sum(duration_secs), 0),
    count(sentiment), coalesce(sum(sentiment), 0),
    count(interruptions_est), coalesce(sum(interruptions_est), 0),
    coalesce(sum(tokens_estimated), 0), count(e2e_latency_ms), coalesce(sum(e2e_latency_ms), 0)"""
GROUP_KEYS = ("day", "status", "call_outcome", "driver_status", "emergency_type", "bucket")

# calllog_daily's duration_bucket for a call without a duration (a key column cannot be NULL),
# the same as PostgreSQL's (sqlite_0016_no_duration_bucket.sql).
NO_BUCKET = -1
_ROLLUP_ADD_SUMS = ", ".join(f"{name} = {name} + excluded.{name}" for name in GROUP_SUMS)
# A bulk insert's new calls (id > ?) added to the rollups in one grouped statement each.
ROLLUP_ADD_NEW_CALLS = (
    f"""INSERT INTO calllog_daily
        SELECT provider, {office_day("created_at", ROLLUP_OFFSETS)}, status,
               coalesce(call_outcome, ''),
               coalesce(driver_status, ''), coalesce(emergency_type, ''),
               coalesce(CAST(duration_secs / {DURATION_BUCKET_SECS} AS INTEGER), {NO_BUCKET}),
               {GROUP_SUMS_SQL}, call_type IS 'simulated'
        FROM calllog WHERE id > ?
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 18
        ON CONFLICT DO UPDATE SET {_ROLLUP_ADD_SUMS}""",
    f"""INSERT INTO calllog_daily_keywords
       SELECT c.provider, {office_day("c.created_at", ROLLUP_OFFSETS)}, c.status,
              coalesce(c.call_outcome, ''),
              coalesce(c.driver_status, ''), coalesce(c.emergency_type, ''), hit.key, count(*),
              sum(hit.value), c.call_type IS 'simulated'
       FROM calllog AS c, json_each(c.keyword_hits) AS hit
       WHERE c.id > ? AND hit.type IN ('integer', 'real')
       GROUP BY 1, 2, 3, 4, 5, 6, 7, 10
       ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, hits = hits + excluded.hits""",
)
# Filters the rollup can answer: the rest (text search, driver, load) need the calls themselves.
ROLLUP_EQUALITIES = ("status", "call_outcome", "driver_status", "emergency_type")


def _rollup_can_answer(filters: CallFilters) -> bool:
    return (
        not (filters.query and filters.query.strip())
        and filters.driver_id is None
        and filters.load_number is None
        and not filters.driver_name
        and filters.on_time_status is None  # not a rollup category
        # The rollup keeps a NULL category as '': an empty value to match is not answerable.
        and "" not in (filters.call_outcome, filters.driver_status, filters.emergency_type)
    )


def _raw_groups(
    conn: sqlite3.Connection, filters: CallFilters, provider: Provider
) -> tuple[list[tuple], dict[str, int]]:
    """Grouped counts and sums, and keyword totals, scanning the matching calls."""
    condition, params = where(filters, provider=provider, figure=True)
    groups = conn.execute(
        f"""SELECT {office_day("c.created_at")}, c.status, c.call_outcome, c.driver_status,
                   c.emergency_type, CAST(c.duration_secs / {DURATION_BUCKET_SECS} AS INTEGER),
                   {GROUP_SUMS_SQL}
            FROM calllog AS c WHERE {condition}
            GROUP BY 1, 2, 3, 4, 5, 6""",
        params,
    ).fetchall()
    return [tuple(row) for row in groups], keyword_totals(conn, condition, params)


def _rollup_categories(filters: CallFilters) -> tuple[list[str], list[Any]]:
    """Conditions (and their parameters) on calllog_daily's key columns for the filters the
    rollup carries: provider, the categories and whether a call failed to start."""
    conditions: list[str] = []
    params: list[Any] = []
    for name in ("provider", *ROLLUP_EQUALITIES):
        value = getattr(filters, name)
        if value is not None:
            conditions.append(f"{name} = ?")
            params.append(value.value if hasattr(value, "value") else value)
    if filters.failed_start is not None:
        conditions.append(_failed_start_condition("status", filters.failed_start))
    return conditions, params


def _rollup_groups(
    conn: sqlite3.Connection,
    filters: CallFilters,
    provider: Provider,
    first_day: str | None,
    end_day: str | None,
) -> tuple[list[tuple], dict[str, int]]:
    """The same groups from calllog_daily for whole office days in [first_day, end_day)."""
    conditions, params = _rollup_categories(filters.model_copy(update={"provider": provider}))
    if not filters.include_simulated:
        conditions.append("simulated = 0")
    if first_day is not None:
        conditions.append("day >= ?")
        params.append(first_day)
    if end_day is not None:
        conditions.append("day < ?")
        params.append(end_day)
    condition = " AND ".join(conditions)
    groups = conn.execute(
        f"""SELECT day, status, nullif(call_outcome, ''), nullif(driver_status, ''),
                   nullif(emergency_type, ''), nullif(duration_bucket, {NO_BUCKET}),
                   {", ".join(GROUP_SUMS)}
            FROM calllog_daily WHERE {condition} AND calls <> 0""",
        params,
    ).fetchall()
    keywords = conn.execute(
        f"""SELECT keyword, sum(hits) FROM calllog_daily_keywords WHERE {condition}
            GROUP BY keyword HAVING sum(calls) > 0""",
        params,
    ).fetchall()
    return [tuple(row) for row in groups], {keyword: int(hits) for keyword, hits in keywords}


_warned_zones: set[tuple[str, str]] = set()


def _rollups_keyed_to(conn: sqlite3.Connection, zone: ZoneInfo) -> bool:
    keyed = rollups_zone(conn)
    if keyed != zone.key and (keyed, zone.key) not in _warned_zones:
        _warned_zones.add((keyed, zone.key))
        log.warning(
            "The daily rollups count days in %s but DISPATCH_TIMEZONE is %s: figures scan the "
            "calls until `python -m db migrate` (or a restart) re-keys them.",
            keyed,
            zone.key,
        )
    return keyed == zone.key


def _grouped(
    conn: sqlite3.Connection, filters: CallFilters, provider: Provider, zone: ZoneInfo
) -> tuple[list[tuple], dict[str, int]]:
    """Groups for the filters: whole office days from the rollup, partial edge days scanned."""
    if not _rollup_can_answer(filters) or not _rollups_keyed_to(conn, zone):
        return _raw_groups(conn, filters, provider)
    start = _as_utc(filters.created_from) if filters.created_from is not None else None
    end = _as_utc(filters.created_to) if filters.created_to is not None else None
    first: date | None = first_whole_day(start, zone) if start is not None else None
    last: date | None = day_of(end, zone) if end is not None else None
    if first is not None and last is not None and first >= last:
        return _raw_groups(conn, filters, provider)
    groups, keywords = _rollup_groups(
        conn,
        filters,
        provider,
        first.isoformat() if first else None,
        last.isoformat() if last else None,
    )
    edges = []
    if first is not None and start is not None and start < day_start(first, zone):
        edges.append(filters.model_copy(update={"created_to": day_start(first, zone)}))
    if last is not None and end is not None and day_start(last, zone) < end:
        edges.append(filters.model_copy(update={"created_from": day_start(last, zone)}))
    for edge in edges:
        edge_groups, edge_keywords = _raw_groups(conn, edge, provider)
        groups.extend(edge_groups)
        for keyword, hits in edge_keywords.items():
            keywords[keyword] = keywords.get(keyword, 0) + hits
    return groups, dict(sorted(keywords.items()))


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def count_sql(filters: CallFilters) -> tuple[str, list[Any]]:
    """SQL counting the calls that match. Filters the rollup carries, with no date range, sum
    its counts; a text search with no other filter counts the full-text index alone (it holds
    one row per call, kept by triggers) instead of looking up every matching call's row."""
    condition, params = where(filters)
    no_dates = filters.created_from is None and filters.created_to is None
    if _rollup_can_answer(filters) and no_dates:
        rollup_conditions, rollup_params = _rollup_categories(filters)
        rollup_condition = " AND ".join(["calls <> 0", *rollup_conditions])
        return f"SELECT coalesce(sum(calls), 0) FROM calllog_daily WHERE {rollup_condition}", (
            rollup_params
        )
    others = filters.model_dump(
        exclude={"query", "driver_name", "include_simulated"}, exclude_none=True
    )
    match = fts_match_expression(filters.query) if filters.query else None
    if match is not None and not others and not filters.driver_name:
        return "SELECT count(*) FROM calllog_fts WHERE calllog_fts MATCH ?", [match]
    return f"SELECT count(*) FROM calllog AS c WHERE {condition}", params


def metrics(
    conn: sqlite3.Connection, filters: CallFilters, provider: Provider, zone: ZoneInfo
) -> CallMetrics:
    """The aggregate shape shared by the Retell and Pipecat dashboards, computed in SQL.

    SQL returns grouped rows (at most days x statuses x outcomes x driver statuses x emergency
    types x duration buckets) with counts and sums, read from the calllog_daily rollup for
    whole days when the filters allow it and from the calls otherwise; Python folds them into
    the per-category counts, totals and averages. Days are days in `zone`, the office's.
    """
    groups, keywords = _grouped(conn, filters, provider, zone)
    by: dict[str, Counter[Any]] = defaultdict(Counter)
    sums: Counter[str] = Counter()
    for row in groups:
        day, status, outcome, driver_status, emergency_type, bucket = row[: len(GROUP_KEYS)]
        values = dict(zip(GROUP_SUMS, row[len(GROUP_KEYS) :], strict=True))
        calls = values["calls"]
        sums.update(values)
        by["day_outcome"][(day, outcome)] += calls
        by["status"][status] += calls
        by["call_outcome"][outcome] += calls
        by["driver_status"][driver_status] += calls
        by["emergency_type"][emergency_type] += calls
        by["bucket"][bucket] += calls

    def counts(category: str) -> dict[str, int]:
        return dict(sorted((k, n) for k, n in by[category].items() if k is not None and n))

    def average(name: str) -> float | None:
        return sums[f"{name}_sum"] / sums[f"{name}_n"] if sums[f"{name}_n"] else None

    per_day = [
        DayCount(day=day, call_outcome=outcome, calls=calls)
        for (day, outcome), calls in sorted(
            by["day_outcome"].items(), key=lambda kv: (kv[0][0], kv[0][1] is not None, kv[0][1])
        )
        if calls
    ]
    histogram = [
        {
            "bucket_start_secs": bucket * DURATION_BUCKET_SECS,
            "bucket_end_secs": (bucket + 1) * DURATION_BUCKET_SECS,
            "calls": calls,
        }
        for bucket, calls in sorted((b, n) for b, n in by["bucket"].items() if b is not None)
        if calls
    ]
    return CallMetrics(
        total_calls=sums["calls"],
        ended_calls=by["status"][CallStatus.ENDED.value],
        avg_duration_secs=average("duration"),
        avg_sentiment=average("sentiment"),
        avg_interruptions=average("interruptions"),
        total_tokens=sums["tokens_sum"],
        by_outcome=counts("call_outcome"),
        by_status=counts("status"),
        by_driver_status=counts("driver_status"),
        by_emergency_type=counts("emergency_type"),
        per_day=per_day,
        keyword_totals=keywords,
        duration_histogram=histogram,
        avg_latency_ms=average("latency"),
    )


def keyword_totals(conn: sqlite3.Connection, condition: str, params: list[Any]) -> dict[str, int]:
    """Sum of keyword_hits per keyword, zero totals included, from the derived columns."""
    keywords: set[str] = set()
    for (keys,) in conn.execute(
        f"""SELECT DISTINCT c.keyword_keys FROM calllog AS c
            WHERE {condition} AND c.keyword_keys IS NOT NULL""",
        params,
    ):
        keywords.update(json.loads(keys))
    sums = dict(
        conn.execute(
            f"""SELECT hit.key, sum(hit.value)
                FROM calllog AS c, json_each(c.keyword_nonzero) AS hit
                WHERE {condition} AND c.keyword_nonzero IS NOT NULL
                GROUP BY hit.key""",
            params,
        ).fetchall()
    )
    return {keyword: int(sums.get(keyword, 0)) for keyword in sorted(keywords)}


def latency_trend(conn: sqlite3.Connection, filters: CallFilters) -> list[LatencyDay]:
    condition, params = where(filters, figure=True)
    rows = conn.execute(
        f"""SELECT {office_day("c.created_at")}, c.provider, count(*), avg(c.e2e_latency_ms),
                   avg(CASE WHEN json_type(c.latency, '$.e2e_p90_ms') IN ('integer', 'real')
                            THEN json_extract(c.latency, '$.e2e_p90_ms') END)
            FROM calllog AS c WHERE {condition} AND c.e2e_latency_ms IS NOT NULL
            GROUP BY 1, 2 ORDER BY 1, 2""",
        params,
    ).fetchall()
    return [
        LatencyDay(day=d, provider=p, calls=n, e2e_p50_ms=p50, e2e_p90_ms=p90)
        for d, p, n, p50, p90 in rows
    ]


def duration_histogram(
    conn: sqlite3.Connection, filters: CallFilters, max_bins: int
) -> list[dict[str, float | int]]:
    """Matching calls with a duration, per bin of a width chosen from their range."""
    condition, params = where(filters, figure=True)
    condition += " AND c.duration_secs IS NOT NULL"
    low, high = conn.execute(
        f"SELECT min(c.duration_secs), max(c.duration_secs) FROM calllog AS c WHERE {condition}",
        params,
    ).fetchone()
    if low is None:
        return []
    width = histogram.bin_width(low, high, max_bins)
    # floor(duration / width), the width a literal from NICE_WIDTHS_SECS: CAST truncates toward
    # zero, so a negative duration with a remainder steps down one bucket.
    ratio = f"(c.duration_secs / {float(width)!r})"
    bucket = f"CAST({ratio} AS INTEGER) - ({ratio} < 0 AND {ratio} <> CAST({ratio} AS INTEGER))"
    rows = conn.execute(
        f"SELECT {bucket}, count(*) FROM calllog AS c WHERE {condition} GROUP BY 1", params
    ).fetchall()
    return histogram.bins({int(b): int(n) for b, n in rows}, width)
