"""SQL for reading `calllog` on SQLite: filters, sorting, paging and the metrics aggregates.

Every aggregate runs in SQLite (GROUP BY, SUM, AVG); Python only shapes the grouped rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from agent.vocabulary import CallOutcome, DriverStatus
from db.models import CallFilters, DayCount, Provider, RetellMetrics, SortKey
from db.sqlite_fulltext import fts_match_expression

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
DURATION_BUCKET_SECS = 60  # width of each duration_histogram bucket

CALL_COLUMNS = """
    c.id, c.provider, c.provider_call_id, c.driver_id, d.name AS driver_name, c.agent_id,
    c.load_number, c.origin, c.destination, c.appointment, c.status, c.scenario, c.call_type,
    c.from_number, c.to_number, c.created_at, c.updated_at, c.started_at, c.ended_at,
    c.duration_secs, c.interruptions_est, c.tokens_estimated, c.keyword_hits, c.sentiment,
    c.transcript, c.structured, c.call_outcome, c.driver_status, c.emergency_type,
    c.recording_url, c.disconnection_reason, c.latency, c.cost, c.call_analysis, c.metadata,
    c.error
"""
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


def where(filters: CallFilters, *, provider: Provider | None = None) -> tuple[str, list[Any]]:
    """WHERE clause over `calllog AS c` and its parameters; `provider` overrides the filter's."""
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
    }
    for column, value in equalities.items():
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value.value if hasattr(value, "value") else value)
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


def metrics(conn: sqlite3.Connection, filters: CallFilters, provider: Provider) -> RetellMetrics:
    """The aggregate shape shared by the Retell and Pipecat dashboards, computed in SQL.

    Three scans: the totals; one GROUP BY over every category the dashboards count (its rows
    are groups, at most days x outcomes x statuses x buckets, folded into the per-category
    counts below); and the keyword counts.
    """
    condition, params = where(filters, provider=provider)
    totals = conn.execute(
        f"""
        SELECT count(*) AS total_calls,
               coalesce(sum(c.status = 'ended'), 0) AS ended_calls,
               avg(c.duration_secs) AS avg_duration_secs,
               avg(c.sentiment) AS avg_sentiment,
               avg(c.interruptions_est) AS avg_interruptions,
               coalesce(sum(c.tokens_estimated), 0) AS total_tokens,
               coalesce(sum(c.call_outcome = ?), 0) AS emergencies,
               coalesce(sum(c.driver_status = ?), 0) AS delays,
               coalesce(sum(c.call_outcome = ?), 0) AS incomplete,
               avg(c.latency_e2e_p50_ms) AS avg_latency_ms
        FROM calllog AS c WHERE {condition}
        """,
        [
            CallOutcome.EMERGENCY_ESCALATION.value,
            DriverStatus.DELAYED.value,
            CallOutcome.INCOMPLETE.value,
            *params,
        ],
    ).fetchone()

    by: dict[str, Counter[Any]] = defaultdict(Counter)
    for day, outcome, status, driver_status, emergency_type, bucket, calls in conn.execute(
        f"""SELECT substr(c.created_at, 1, 10), c.call_outcome, c.status, c.driver_status,
                   c.emergency_type, CAST(c.duration_secs / {DURATION_BUCKET_SECS} AS INTEGER),
                   count(*)
            FROM calllog AS c WHERE {condition}
            GROUP BY 1, 2, 3, 4, 5, 6""",
        params,
    ):
        by["day_outcome"][(day, outcome)] += calls
        by["status"][status] += calls
        by["call_outcome"][outcome] += calls
        by["driver_status"][driver_status] += calls
        by["emergency_type"][emergency_type] += calls
        by["bucket"][bucket] += calls

    def counts(category: str) -> dict[str, int]:
        return dict(sorted((k, n) for k, n in by[category].items() if k is not None))

    per_day = [
        DayCount(day=day, call_outcome=outcome, calls=calls)
        for (day, outcome), calls in sorted(
            by["day_outcome"].items(), key=lambda kv: (kv[0][0], kv[0][1] is not None, kv[0][1])
        )
    ]
    histogram = [
        {
            "bucket_start_secs": bucket * DURATION_BUCKET_SECS,
            "bucket_end_secs": (bucket + 1) * DURATION_BUCKET_SECS,
            "calls": calls,
        }
        for bucket, calls in sorted((b, n) for b, n in by["bucket"].items() if b is not None)
    ]
    return RetellMetrics(
        total_calls=totals["total_calls"],
        ended_calls=totals["ended_calls"],
        avg_duration_secs=totals["avg_duration_secs"],
        avg_sentiment=totals["avg_sentiment"],
        avg_interruptions=totals["avg_interruptions"],
        total_tokens=totals["total_tokens"],
        emergencies=totals["emergencies"],
        delays=totals["delays"],
        incomplete=totals["incomplete"],
        by_outcome=counts("call_outcome"),
        by_status=counts("status"),
        by_driver_status=counts("driver_status"),
        by_emergency_type=counts("emergency_type"),
        per_day=per_day,
        keyword_totals=keyword_totals(conn, condition, params),
        duration_histogram=histogram,
        avg_latency_ms=totals["avg_latency_ms"],
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
