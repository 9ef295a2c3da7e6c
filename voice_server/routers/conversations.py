"""The conversations read API: search with filters and pages, and the CSV export.

- `GET /api/v1/conversations`: one page of matching calls and the exact total.
- `GET /api/v1/conversations/export.csv`: every matching call, streamed batch by batch from
  `Store.iter_calls` (keyset pagination), so memory stays flat however many rows match.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from agent.types import CallResult
from db import Store
from db.models import Call, CallFilters, CallPage, SortKey
from voice_server.deps import CallFiltersDep, DispatchKeyDep, StoreDep

router = APIRouter(tags=["conversations"])

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
    "call_outcome",
    "driver_status",
    "emergency_type",
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
    "error",
)
CSV_COLUMNS = CALL_COLUMNS + STRUCTURED_COLUMNS + ANALYSIS_COLUMNS
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "value"):
        value = value.value
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value  # a spreadsheet must not run text from a call as a formula
    return value


def csv_row(call: Call) -> list[Any]:
    structured = call.structured or {}
    hits = call.keyword_hits or {}
    extra = {
        "keywords": ";".join(f"{word}:{count}" for word, count in sorted(hits.items())),
        "transcript_turns": len(call.transcript),
    }
    values = [getattr(call, name) for name in CALL_COLUMNS]
    values += [structured.get(name) for name in STRUCTURED_COLUMNS]
    values += [extra[name] if name in extra else getattr(call, name) for name in ANALYSIS_COLUMNS]
    return [_cell(v) for v in values]


def csv_lines(store: Store, filters: CallFilters, *, rows_per_chunk: int = 200) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    pending = 0
    for call in store.iter_calls(filters):
        writer.writerow(csv_row(call))
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


@router.get("/api/v1/conversations")
def search_conversations(
    _auth: DispatchKeyDep,
    store: StoreDep,
    filters: CallFiltersDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    sort: SortKey = "-created_at",
) -> CallPage:
    """Calls matching every given filter (full text in `query`), newest first by default."""
    return store.search_calls(filters, sort=sort, page=page, page_size=page_size)


@router.get(
    "/api/v1/conversations/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "Every matching call"}},
)
def export_conversations(
    _auth: DispatchKeyDep, store: StoreDep, filters: CallFiltersDep
) -> StreamingResponse:
    """Every matching call as CSV (ids, driver and load, times, outcome, structured fields)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = csv_lines(store, filters)
    # Read the first rows before answering: a database that is down is a 503, not a cut-off 200.
    first_chunk = next(lines)
    return StreamingResponse(
        itertools.chain([first_chunk], lines),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="conversations-{stamp}.csv"'},
    )
