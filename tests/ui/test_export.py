"""The CSV behind Download CSV: every matching call (not only the page on screen), built in
batches from the Store."""

from __future__ import annotations

import csv
import io

from db import Store
from db.models import CallFilters, Provider
from tests.ui.conftest import AddCall
from ui.export import COLUMNS, calls_csv, export_file_name


def parse(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_the_csv_holds_every_matching_call_and_nothing_else(
    store: Store, add_call: AddCall
) -> None:
    for i in range(1234):
        add_call(Provider.PIPECAT if i % 2 else Provider.RETELL, load=f"L-{i}")
    rows = parse(calls_csv(store, CallFilters(provider=Provider.PIPECAT)))
    assert len(rows) == 617
    assert {row["provider"] for row in rows} == {"pipecat"}
    assert len({row["provider_call_id"] for row in rows}) == 617

    seen: list[int] = []
    assert len(parse(calls_csv(store, CallFilters(), seen.append))) == 1234
    assert seen == [1000, 1234]  # progress per batch, then the final count


def test_the_csv_carries_the_structured_result_and_transcript(
    store: Store, add_call: AddCall
) -> None:
    add_call(
        emergency="Breakdown",
        driver="Ana Silva",
        keyword_hits={"breakdown": 2},
        transcript=[
            {"role": "agent", "content": "Are you safe?"},
            {"role": "user", "content": "Yes, engine died, comma, on I-40"},
        ],
    )
    (row,) = parse(calls_csv(store, CallFilters()))
    assert list(row) == list(COLUMNS)
    expected = {
        "call_outcome": "Emergency Escalation",
        "emergency_type": "Breakdown",
        "driver_name": "Ana Silva",
        "current_location": "I-10 near Indio",
        "keywords": "breakdown:2",
        "transcript": "agent: Are you safe?\nuser: Yes, engine died, comma, on I-40",
    }
    assert {name: row[name] for name in expected} == expected


def test_an_empty_result_is_a_header_only_csv(store: Store) -> None:
    assert parse(calls_csv(store, CallFilters(load_number="none"))) == []


def test_the_file_name_says_what_was_filtered() -> None:
    name = export_file_name(CallFilters(provider=Provider.RETELL, call_outcome="Incomplete"))
    assert name == "calls_retell_incomplete.csv"


def test_csv_times_are_iso_8601_with_the_offices_offset(
    store: Store, add_call: AddCall, monkeypatch
) -> None:
    from datetime import datetime

    from settings import get_settings

    call_id = add_call()
    created = store.get_call(call_id).created_at
    monkeypatch.setenv("DISPATCH_TIMEZONE", "America/Chicago")
    get_settings.cache_clear()
    (row,) = parse(calls_csv(store, CallFilters()))
    shown = datetime.fromisoformat(row["created_at"])
    assert row["created_at"][-6:] in {"-06:00", "-05:00"}  # CST or CDT, said in the value
    assert shown == created  # the same instant
