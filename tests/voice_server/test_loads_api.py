"""POST /api/v1/loads: bulk upsert by load number for a TMS; bad rows change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from settings import load_settings
from tests.voice_server.conftest import API_KEY, auth
from voice_server.main import create_app


def row(number: str, **fields: Any) -> dict[str, Any]:
    values = {
        "load_number": number,
        "driver_name": "Maria Lopez",
        "driver_phone": "+1 312 555 0147",
        "origin": "Dallas, TX",
        "destination": "Denver, CO",
        "pickup_at": "2026-03-06T08:00:00-06:00",
        "pickup_tz": "America/Chicago",
        "delivery_at": "2026-03-07T11:00:00-07:00",
        "delivery_tz": "America/Denver",
    }
    values.update(fields)
    return values


@pytest.fixture
def client(tmp_path: Any) -> Any:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        dispatch_api_key=API_KEY,
        outbox_path=str(tmp_path / "outbox.jsonl"),
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_tms_upserts_loads_by_number_and_reads_them_back(client: TestClient) -> None:
    answer = client.post("/api/v1/loads", json=[row("L-1"), row("L-2")], headers=auth())
    assert answer.status_code == 200 and answer.json() == {"upserted": 2}
    again = client.post("/api/v1/loads", json=[row("L-1", destination="Boise, ID")], headers=auth())
    assert again.json() == {"upserted": 1}
    load = client.get("/api/v1/loads/L-1", headers=auth()).json()["load"]
    assert load["destination"] == "Boise, ID" and load["driver_phone"] == "+13125550147"
    assert load["version"] == 1  # the destination is not something the call plan reads
    client.post(
        "/api/v1/loads", json=[row("L-1", delivery_at="2026-03-07T15:00:00-07:00")], headers=auth()
    )
    assert client.get("/api/v1/loads/L-1", headers=auth()).json()["load"]["version"] == 2
    board = client.get("/api/v1/loads", headers=auth()).json()
    assert [r["load"]["load_number"] for r in board] == ["L-1", "L-2"]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"pickup_tz": "Mars/Olympus"}, "pickup_tz"),
        ({"delivery_at": "2026-03-05T11:00:00-07:00"}, "body"),
        ({"driver_phone": "555"}, "driver_phone"),
        ({"pickup_at": "2026-03-06T08:00:00"}, "pickup_at"),
        ({"plan": {"every_hours": -1}}, "plan"),
        ({"load_number": "L-1"}, "load_number"),  # the same number twice in one batch
    ],
)
def test_one_bad_row_is_named_and_nothing_is_written(
    client: TestClient, bad: dict[str, Any], field: str
) -> None:
    answer = client.post("/api/v1/loads", json=[row("L-1"), row("L-2", **bad)], headers=auth())
    assert answer.status_code == 422
    problems = answer.json()["detail"]
    assert any(1 in item["loc"] and (field == "body" or field in item["loc"]) for item in problems)
    assert client.get("/api/v1/loads/L-1", headers=auth()).status_code == 404


def test_loads_need_the_dispatch_key(client: TestClient) -> None:
    assert client.post("/api/v1/loads", json=[row("L-1")]).status_code == 401
    assert client.get("/api/v1/loads").status_code == 401
