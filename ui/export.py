"""CSV of every call matching a filter, streamed from the Store in batches (constant memory per
batch; the whole file is only ever the bytes the user downloads)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from typing import IO, Any

from db.models import Call, CallFilters
from db.store import Store

STRUCTURED_FIELDS = (
    "current_location",
    "eta",
    "delay_reason",
    "unloading_status",
    "pod_reminder_acknowledged",
    "safety_status",
    "injury_status",
    "emergency_location",
    "load_secure",
    "escalation_status",
)
COLUMNS = (
    "provider",
    "provider_call_id",
    "created_at",
    "status",
    "call_type",
    "driver_name",
    "load_number",
    "origin",
    "destination",
    "appointment",
    "call_outcome",
    "driver_status",
    "emergency_type",
    *STRUCTURED_FIELDS,
    "duration_secs",
    "interruptions_est",
    "tokens_estimated",
    "sentiment",
    "keyword_hits",
    "transcript",
)
BATCH_SIZE = 1000

Progress = Callable[[int], None]


def csv_row(call: Call) -> list[Any]:
    structured = call.structured or {}
    values: dict[str, Any] = {
        "provider": call.provider.value,
        "provider_call_id": call.provider_call_id,
        "created_at": call.created_at.isoformat(),
        "status": call.status.value,
        "call_type": call.call_type,
        "driver_name": call.driver_name,
        "load_number": call.load_number,
        "origin": call.origin,
        "destination": call.destination,
        "appointment": call.appointment,
        "call_outcome": call.call_outcome,
        "driver_status": call.driver_status,
        "emergency_type": call.emergency_type,
        "duration_secs": call.duration_secs,
        "interruptions_est": call.interruptions_est,
        "tokens_estimated": call.tokens_estimated,
        "sentiment": call.sentiment,
        "keyword_hits": json.dumps(call.keyword_hits, sort_keys=True) if call.keyword_hits else "",
        "transcript": "\n".join(f"{t.get('role')}: {t.get('content')}" for t in call.transcript),
    }
    for field in STRUCTURED_FIELDS:
        values[field] = structured.get(field)
    return ["" if values[c] is None else values[c] for c in COLUMNS]


def write_csv(calls: Iterable[Call], out: IO[str], progress: Progress | None = None) -> int:
    """Write the header and one row per call; report the running count every batch."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    written = 0
    for call in calls:
        writer.writerow(csv_row(call))
        written += 1
        if progress and written % BATCH_SIZE == 0:
            progress(written)
    if progress:
        progress(written)
    return written


def calls_csv(store: Store, filters: CallFilters, progress: Progress | None = None) -> bytes:
    """Every matching call (not only the page on screen) as UTF-8 CSV bytes."""
    out = io.StringIO()
    write_csv(store.iter_calls(filters, batch_size=BATCH_SIZE), out, progress)
    return out.getvalue().encode("utf-8")


def export_file_name(filters: CallFilters) -> str:
    parts = ["calls"]
    for name in ("provider", "call_outcome", "driver_status", "emergency_type", "load_number"):
        value = getattr(filters, name)
        if value:
            parts.append(str(value).lower().replace(" ", "-"))
    return "_".join(parts) + ".csv"
