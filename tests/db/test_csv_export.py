"""The one CSV of calls behind Streamlit's Download CSV and GET /api/v1/conversations/export.csv."""

from __future__ import annotations

import csv
import io

import pytest

from db.csv_export import COLUMNS, calls_csv, csv_chunks
from db.models import CallFilters, CallStatus, CallUpdate, Provider
from db.store import Store


def parse(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def add_retell_call(store: Store, call_id: str, driver: str, **fields: object) -> None:
    store.upsert_call(
        Provider.RETELL,
        call_id,
        CallUpdate(
            driver_id=store.ensure_driver(driver),
            status=CallStatus.ENDED,
            duration_secs=75.5,
            cost=12.5,
            recording_url="https://recordings.example/call.wav",
            disconnection_reason="user_hangup",
            call_analysis={"call_summary": "Driver is delayed by traffic near Dallas."},
            keyword_hits={"traffic": 2, "delay": 1},
            structured={"call_outcome": "In-Transit Update", "load_secure": True},
            transcript=[
                {"role": "agent", "content": "How is load 7731 going?"},
                {"role": "user", "content": "Stuck in traffic, comma, near Dallas."},
            ],
            **fields,
        ),
    )


def test_a_row_carries_cost_recording_disconnection_reason_summary_and_transcript(
    store: Store,
) -> None:
    add_retell_call(store, "call_1", "Maria Lopez")

    (row,) = parse(calls_csv(store, CallFilters()))

    assert list(row) == list(COLUMNS)
    assert row["cost"] == "12.5"
    assert row["recording_url"] == "https://recordings.example/call.wav"
    assert row["disconnection_reason"] == "user_hangup"
    assert row["summary"] == "Driver is delayed by traffic near Dallas."
    assert row["keywords"] == "delay:1;traffic:2"
    assert row["load_secure"] == "true"
    assert row["transcript_turns"] == "2"
    assert row["transcript"] == (
        "agent: How is load 7731 going?\nuser: Stuck in traffic, comma, near Dallas."
    )


@pytest.mark.parametrize(
    "name", ['=HYPERLINK("http://evil.example","Click")', "+1+2", "-2+3", "@SUM(A1)"]
)
def test_text_a_spreadsheet_would_run_as_a_formula_is_neutralised(store: Store, name: str) -> None:
    add_retell_call(store, "call_f", name, origin=name, error=name)

    (row,) = parse(calls_csv(store, CallFilters()))

    for column in ("driver_name", "origin", "error"):
        assert row[column] == "'" + name


def test_chunks_report_progress_and_join_to_the_same_file(store: Store) -> None:
    for i in range(5):
        add_retell_call(store, f"call_{i}", f"Driver {i}")
    seen: list[int] = []

    chunks = list(
        csv_chunks(store.iter_calls(CallFilters()), rows_per_chunk=2, progress=seen.append)
    )

    assert seen == [2, 4, 5]
    assert len(chunks) == 3
    assert "".join(chunks).encode() == calls_csv(store, CallFilters())
