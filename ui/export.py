"""The Download CSV button's file: `db.csv_export` (the export API's columns), and its name."""

from __future__ import annotations

from db.csv_export import COLUMNS, calls_csv
from db.models import CallFilters

__all__ = ["COLUMNS", "calls_csv", "export_file_name"]


def export_file_name(filters: CallFilters) -> str:
    parts = ["calls"]
    for name in ("provider", "call_outcome", "driver_status", "emergency_type", "load_number"):
        value = getattr(filters, name)
        if value:
            parts.append(str(value).lower().replace(" ", "-"))
    return "_".join(parts) + ".csv"
