"""Loads from a TMS's CSV export: every row checked, every problem named, nothing half-imported.

Columns (header names, any order, case-insensitive): load_number, driver_name, driver_phone,
origin, destination, pickup_at, pickup_tz, delivery_at, delivery_tz, and optionally status.
Appointment times are either ISO 8601 with an offset, or local wall-clock times
(`2026-03-07 08:00`) read in the row's time zone; a local time that does not exist there (the
hour skipped when clocks go forward) or happens twice (the hour repeated when they go back) is
a problem to fix, not a guess.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from db.load_models import Load, LoadIn

REQUIRED_COLUMNS = (
    "load_number",
    "driver_name",
    "driver_phone",
    "origin",
    "destination",
    "pickup_at",
    "pickup_tz",
    "delivery_at",
    "delivery_tz",
)
OPTIONAL_COLUMNS = ("status",)
MAX_ROWS = 20_000
TEMPLATE = (
    ",".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    + '\nLD-1001,Maria Lopez,+13125550147,"Dallas, TX","Denver, CO",2026-03-07 08:00,'
    "America/Chicago,2026-03-08 14:00,America/Denver,in_transit\n"
)


@dataclass
class ImportResult:
    loads: list[LoadIn] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (CSV line, reason)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.loads)


class LocalTimeProblem(ValueError):
    pass


def local_instant(text: str, zone_name: str) -> datetime:
    """An appointment as an instant: ISO with an offset as given, else wall-clock in the zone."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is not None:
        return value
    try:
        zone = ZoneInfo(zone_name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise LocalTimeProblem(f"unknown time zone {zone_name!r}") from None
    first, second = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        # fold=0 and fold=1 differ: the wall time is skipped or repeated in this zone.
        round_trip = first.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None)
        if round_trip != value:
            raise LocalTimeProblem(
                f"{text.strip()} does not exist in {zone_name} (clocks go forward then)"
            )
        raise LocalTimeProblem(
            f"{text.strip()} happens twice in {zone_name} (clocks go back then): give the "
            f"offset, e.g. {first.isoformat()} or {second.isoformat()}"
        )
    return first


def parse_loads_csv(data: bytes) -> ImportResult:
    result = ImportResult()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        result.problems.append((0, "the file is not UTF-8 text (save the CSV as UTF-8)"))
        return result
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        result.problems.append((1, f"missing column(s): {', '.join(missing)}"))
        return result
    reader.fieldnames = header
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        if len(result.loads) + len(result.problems) >= MAX_ROWS:
            result.problems.append((line, f"more than {MAX_ROWS} rows: split the file"))
            break
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        try:
            load = load_from_row(row)
        except (ValidationError, ValueError) as exc:
            result.problems.append((line, problem_text(exc)))
            continue
        if load.load_number in seen:
            result.problems.append(
                (line, f"load {load.load_number} is also on line {seen[load.load_number]}")
            )
            continue
        seen[load.load_number] = line
        result.loads.append(load)
    if not result.loads and not result.problems:
        result.problems.append((1, "the file has no loads"))
    return result


def load_from_row(row: dict[str, str], plan: dict[str, object] | None = None) -> LoadIn:
    """One load from text fields as a CSV row (or an editor row) holds them."""
    values: dict[str, object] = {name: row.get(name) or None for name in REQUIRED_COLUMNS}
    values["plan"] = plan or None
    for when, zone in (("pickup_at", "pickup_tz"), ("delivery_at", "delivery_tz")):
        if not row.get(when):
            raise ValueError(f"{when} is empty")
        try:
            values[when] = local_instant(row[when], row.get(zone, ""))
        except LocalTimeProblem as exc:
            raise ValueError(f"{when}: {exc}") from None
        except ValueError:
            raise ValueError(
                f"{when} {row[when]!r} is not a date and time (2026-03-07 08:00)"
            ) from None
    if row.get("status"):
        values["status"] = row["status"].lower().replace(" ", "_")
    return LoadIn.model_validate(values)


def problem_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
        return "; ".join(parts)
    return str(exc)


PLAN_COLUMNS = ("every_hours", "engine", "max_attempts")
# The Loads page's table: a CSV row's columns, then what only the editor changes.
EDITABLE_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "paused", *PLAN_COLUMNS)


def wall_clock(when: datetime, zone_name: str) -> str:
    """An instant as the local time `local_instant` reads back in that zone."""
    return when.astimezone(ZoneInfo(zone_name)).strftime("%Y-%m-%d %H:%M")


def editable_row(load: Load) -> dict[str, object]:
    """A load as a row of the Loads table (EDITABLE_COLUMNS), as `edited_loads` reads it back."""
    row: dict[str, object] = {name: getattr(load, name) for name in REQUIRED_COLUMNS}
    row["pickup_at"] = wall_clock(load.pickup_at, load.pickup_tz)
    row["delivery_at"] = wall_clock(load.delivery_at, load.delivery_tz)
    plan = load.plan or {}
    return (
        row
        | {"status": load.status.value, "paused": load.paused}
        | {name: plan.get(name) for name in PLAN_COLUMNS}
    )


def edited_loads(
    before: list[dict[str, object]], after: list[dict[str, object]]
) -> tuple[list[tuple[LoadIn, bool]], list[tuple[int, str]]]:
    """The rows of the Loads table that are new or changed, as (load, paused), and the rows
    with problems as (row number, reason). Empty cells of the plan columns mean the default."""

    def plain(record: dict[str, object]) -> dict[str, object]:
        return {k: ("" if v is None or v != v else v) for k, v in record.items()}  # NaN != NaN

    original = {str(r["load_number"]): plain(r) for r in before}
    changed: list[tuple[LoadIn, bool]] = []
    problems: list[tuple[int, str]] = []
    for number, record in enumerate(after, start=1):
        values = plain(record)
        if not any(str(v).strip() for v in values.values()):
            continue
        if original.get(str(values["load_number"])) == values:
            continue
        plan: dict[str, object] = {
            name: values[name] for name in PLAN_COLUMNS if values.get(name, "") != ""
        }
        try:
            if "every_hours" in plan:
                plan["every_hours"] = float(plan["every_hours"])  # type: ignore[arg-type]
            if "max_attempts" in plan:
                plan["max_attempts"] = int(plan["max_attempts"])  # type: ignore[call-overload]
            load = load_from_row({k: str(v) for k, v in values.items()}, plan)
        except ValueError as exc:
            problems.append((number, problem_text(exc)))
            continue
        changed.append((load, bool(values.get("paused"))))
    return changed, problems
