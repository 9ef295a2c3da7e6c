"""The conversations read API: search with filters and pages, and the CSV export.

- `GET /api/v1/conversations`: one page of matching calls and the exact total.
- `GET /api/v1/conversations/export.csv`: every matching call (`db.csv_export`, the same file as
  Streamlit's download), streamed batch by batch, so memory stays flat however many rows match.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from db.csv_export import csv_chunks
from db.models import CallPage, SortKey
from voice_server.deps import CallFiltersDep, DispatchKeyDep, PagingDep, SettingsDep, StoreDep

router = APIRouter(tags=["conversations"])


@router.get("/api/v1/conversations")
def search_conversations(
    _auth: DispatchKeyDep,
    store: StoreDep,
    filters: CallFiltersDep,
    paging: PagingDep,
    sort: SortKey = "-created_at",
) -> CallPage:
    """Calls matching every given filter (full text in `query`), newest first by default."""
    return store.search_calls(filters, sort=sort, page=paging.page, page_size=paging.page_size)


@router.get(
    "/api/v1/conversations/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "Every matching call"}},
)
def export_conversations(
    _auth: DispatchKeyDep, store: StoreDep, settings: SettingsDep, filters: CallFiltersDep
) -> StreamingResponse:
    """Every matching call as CSV: ids, driver and load, times, outcome, structured fields,
    analysis, cost, recording, disconnection reason, summary and transcript."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # Times in the office's zone, with their offset (DISPATCH_TIMEZONE).
    lines = csv_chunks(store.iter_calls(filters), zone=ZoneInfo(settings.dispatch_timezone))
    # Read the first rows before answering: a database that is down is a 503, not a cut-off 200.
    first_chunk = next(lines)
    return StreamingResponse(
        itertools.chain([first_chunk], lines),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="conversations-{stamp}.csv"'},
    )
