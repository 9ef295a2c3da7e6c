"""A TMS's CSV export: good rows become loads in their time zones, every bad row is named."""

from __future__ import annotations

from datetime import UTC, datetime

from ui.load_import import TEMPLATE, parse_loads_csv

HEADER = (
    "Load_Number,driver_name,driver_phone,origin,destination,pickup_at,pickup_tz,"
    "delivery_at,delivery_tz,status\n"
)


def test_the_template_imports_and_local_times_are_read_in_their_zones() -> None:
    result = parse_loads_csv(TEMPLATE.encode())
    assert result.ok and len(result.loads) == 1
    load = result.loads[0]
    assert load.pickup_at == datetime(2026, 3, 7, 14, 0, tzinfo=UTC)  # 08:00 CST
    assert load.delivery_at == datetime(2026, 3, 8, 20, 0, tzinfo=UTC)  # 14:00 MDT (DST began)


def test_a_local_time_after_the_dst_change_gets_the_new_offset() -> None:
    csv = HEADER + (
        'A1,Sam,+13125550147,"Dallas, TX","Denver, CO",2026-03-08 08:00,America/Chicago,'
        "2026-03-09 14:00,America/Denver,\n"
    )
    load = parse_loads_csv(csv.encode()).loads[0]
    assert load.pickup_at == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # 08:00 CDT


def test_every_problem_row_is_listed_and_nothing_is_imported() -> None:
    csv = HEADER + (
        'A1,Sam,+13125550147,"Dallas, TX","Denver, CO",2026-03-07 08:00,America/Chicago,'
        "2026-03-08 14:00,America/Denver,\n"
        'A2,Sam,+13125550147,"Dallas, TX","Denver, CO",2026-03-08 02:30,America/Chicago,'
        "2026-03-09 14:00,America/Denver,\n"
        'A3,Sam,+13125550147,"Dallas, TX","Denver, CO",2026-11-01 01:30,America/Chicago,'
        "2026-11-02 14:00,America/Denver,\n"
        'A4,Sam,12,"Dallas, TX","Denver, CO",2026-03-07 08:00,America/Chicago,'
        "2026-03-08 14:00,America/Denver,\n"
        'A5,Sam,+13125550147,"Dallas, TX","Denver, CO",2026-03-07 08:00,Mars/Base,'
        "2026-03-08 14:00,America/Denver,\n"
        'A6,Sam,+13125550147,"Dallas, TX","Denver, CO",2026-03-09 08:00,America/Chicago,'
        "2026-03-08 14:00,America/Denver,\n"
        'A1,Sam,+13125550147,"Dallas, TX","Denver, CO",2026-03-07 08:00,America/Chicago,'
        "2026-03-08 14:00,America/Denver,\n"
        'A8,Sam,+13125550147,"Dallas, TX","Denver, CO",tomorrow,America/Chicago,'
        "2026-03-08 14:00,America/Denver,lost\n"
    )
    result = parse_loads_csv(csv.encode())
    assert not result.ok
    reasons = dict(result.problems)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]
    assert "does not exist" in reasons[3]
    assert "happens twice" in reasons[4]
    assert "driver_phone" in reasons[5]
    assert "Mars/Base" in reasons[6]
    assert "after pickup_at" in reasons[7]
    assert "also on line 2" in reasons[8]
    assert "not a date" in reasons[9]


def test_a_file_without_the_columns_says_which_are_missing() -> None:
    result = parse_loads_csv(b"load,driver\nA1,Sam\n")
    assert not result.ok and "missing column(s): load_number" in result.problems[0][1]
    assert not parse_loads_csv(b"\xff\xfe").ok


def test_the_loads_table_saves_new_and_changed_rows_and_names_bad_ones() -> None:
    from ui.load_import import edited_loads

    row = {
        "load_number": "A1",
        "driver_name": "Sam",
        "driver_phone": "+13125550147",
        "origin": "Dallas, TX",
        "destination": "Denver, CO",
        "pickup_at": "2026-03-07 08:00",
        "pickup_tz": "America/Chicago",
        "delivery_at": "2026-03-08 14:00",
        "delivery_tz": "America/Denver",
        "status": "in_transit",
        "paused": False,
        "every_hours": float("nan"),
        "engine": None,
        "max_attempts": float("nan"),
    }
    unchanged, _ = edited_loads([row], [dict(row)])
    assert unchanged == []
    tuned = {**row, "every_hours": 2.0, "engine": "retell", "paused": True}
    new = {**row, "load_number": "A2", "delivery_tz": "Nowhere/Land"}
    changed, problems = edited_loads([row], [tuned, new])
    assert [(load.load_number, load.plan, paused) for load, paused in changed] == [
        ("A1", {"every_hours": 2.0, "engine": "retell"}, True)
    ]
    assert problems and problems[0][0] == 2 and "Nowhere/Land" in problems[0][1]


def test_a_stored_load_shows_its_local_times_and_reads_back_as_the_same_load() -> None:
    from db.load_models import Load
    from ui.load_import import EDITABLE_COLUMNS, editable_row, edited_loads

    loaded = parse_loads_csv(TEMPLATE.encode()).loads[0]
    stored = Load(
        **loaded.model_dump(),
        paused=True,
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
        updated_at=datetime(2026, 3, 1, tzinfo=UTC),
    ).model_copy(update={"plan": {"engine": "retell"}})
    row = editable_row(stored)

    assert tuple(row) == EDITABLE_COLUMNS
    assert (row["pickup_at"], row["delivery_at"]) == ("2026-03-07 08:00", "2026-03-08 14:00")
    assert (row["engine"], row["every_hours"], row["paused"]) == ("retell", None, True)
    assert edited_loads([row], [dict(row)]) == ([], [])
    ((load, paused),) = edited_loads([], [row])[0]
    assert load == loaded.model_copy(update={"plan": {"engine": "retell"}}) and paused
