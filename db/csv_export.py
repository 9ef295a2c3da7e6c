"""The CSV of calls: one set of columns for the Streamlit download and the export API.

Rows come from `Store.iter_calls` (keyset pagination), so memory stays flat however many calls
match. Text that a spreadsheet would run as a formula (`=HYPERLINK(...)` as a driver's name) is
prefixed with `'`. Times are ISO 8601 with their offset, in the office's zone when one is given
(`2026-03-08T06:00:00-06:00`), so a spreadsheet in another zone still reads the instant.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from enum import Enum
from typing import Any

from agent.types import CallResult
from db.models import Call, CallFilters
from db.store import Store

_INDEXED_RESULT_FIELDS = ("call_outcome", "driver_status", "emergency_type")
STRUCTURED_COLUMNS = tuple(
    f.name for f in dataclasses.fields(CallResult) if f.name not in _INDEXED_RESULT_FIELDS
)
CALL_COLUMNS = (
    "id",
    "provider",
    "provider_call_id",
    "call_type",
    "status",
    "driver_id",
    "driver_name",
    "load_number",
    "origin",
    "destination",
    "appointment",
    "scenario",
    "created_at",
    "started_at",
    "ended_at",
    "duration_secs",
    *_INDEXED_RESULT_FIELDS,
)
ANALYSIS_COLUMNS = (
    "sentiment",
    "interruptions_est",
    "tokens_estimated",
    "keywords",
    "transcript_turns",
    "disconnection_reason",
    "recording_url",
    "cost",
    "summary",
    "error",
    "transcript",
)
COLUMNS = CALL_COLUMNS + STRUCTURED_COLUMNS + ANALYSIS_COLUMNS
BATCH_SIZE = 1000
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Progress = Callable[[int], None]


def _cell(value: Any, zone: tzinfo = UTC) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # stored as UTC
        return aware.astimezone(zone).isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value  # a spreadsheet must not run text from a call as a formula
    return value


def csv_row(call: Call, zone: tzinfo = UTC) -> list[Any]:
    structured = call.structured or {}
    derived = {
        "keywords": ";".join(f"{w}:{n}" for w, n in sorted((call.keyword_hits or {}).items())),
        "transcript_turns": len(call.transcript),
        "summary": (call.call_analysis or {}).get("call_summary"),
        "transcript": "\n".join(f"{t.get('role')}: {t.get('content')}" for t in call.transcript),
    }
    values = [getattr(call, name) for name in CALL_COLUMNS]
    values += [structured.get(name) for name in STRUCTURED_COLUMNS]
    values += [
        derived[name] if name in derived else getattr(call, name) for name in ANALYSIS_COLUMNS
    ]
    return [_cell(v, zone) for v in values]


def csv_chunks(
    calls: Iterable[Call],
    rows_per_chunk: int = 200,
    progress: Progress | None = None,
    zone: tzinfo = UTC,
) -> Iterator[str]:
    """The header and one row per call, as text chunks of `rows_per_chunk` rows; `progress`
    hears the running count after each chunk and the final count at the end; times in `zone`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    written = 0
    for call in calls:
        writer.writerow(csv_row(call, zone))
        written += 1
        if written % rows_per_chunk == 0:
            if progress:
                progress(written)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if progress:
        progress(written)
    yield buffer.getvalue()


def calls_csv(
    store: Store, filters: CallFilters, progress: Progress | None = None, zone: tzinfo = UTC
) -> bytes:
    """Every matching call (not only a page of them) as UTF-8 CSV bytes, times in `zone`."""
    calls = store.iter_calls(filters, batch_size=BATCH_SIZE)
    return "".join(csv_chunks(calls, BATCH_SIZE, progress, zone)).encode("utf-8")
