"""The Download CSV button's file: `db.csv_export` (the export API's columns), times in the
office's zone, and its name."""

from __future__ import annotations

from db import csv_export
from db.csv_export import COLUMNS, Progress
from db.models import CallFilters
from db.store import Store
from ui.formatting import office_zone

__all__ = ["COLUMNS", "calls_csv", "export_file_name"]


def calls_csv(store: Store, filters: CallFilters, progress: Progress | None = None) -> bytes:
    """Every matching call as CSV, times ISO 8601 with the office's offset."""
    return csv_export.calls_csv(store, filters, progress, zone=office_zone())


def export_file_name(filters: CallFilters) -> str:
    parts = ["calls"]
    for name in ("provider", "call_outcome", "driver_status", "emergency_type", "load_number"):
        value = getattr(filters, name)
        if value:
            parts.append(str(value).lower().replace(" ", "-"))
    return "_".join(parts) + ".csv"
