"""Scheduler fixtures: a store per backend, a stepped clock, a recording engine double."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db.load_models import ClaimedAttempt, LoadIn
from db.models import CallStatus, CallUpdate, Provider
from db.store import Store
from scheduler.dialers import Placement, PlacementFailed

T0 = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)


class SteppedClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class RecordingDialer:
    """An engine double: records every placement; writes the call as the engine would.

    `answers` maps a load number to what its driver does on each attempt, in order:
    "talk" (a completed call), "no_answer", "busy", "voicemail", "refuse" (the engine
    refuses to start it). Unlisted loads talk."""

    store: Store
    answers: dict[str, list[str]] = field(default_factory=dict)
    placed: list[tuple[str, int, int]] = field(default_factory=list)  # (load, slot id, attempt)

    async def place(self, claimed: ClaimedAttempt) -> Placement:
        load = claimed.load.load_number
        plan = self.answers.get(load, [])
        behaviour = plan.pop(0) if plan else "talk"
        if behaviour == "refuse":
            raise PlacementFailed("engine refused (429)")
        self.placed.append((load, claimed.slot_id, claimed.attempt))
        call_id = f"double_{claimed.attempt_id}"
        transcript = [{"role": "agent", "content": "Hi, dispatch here. Where are you?"}]
        reason = {
            "no_answer": "dial_no_answer",
            "busy": "dial_busy",
            "voicemail": "voicemail_reached",
        }
        if behaviour in ("talk", "emergency", "arrived"):
            said = {
                "talk": "On I-40 near Amarillo, about two hours out, no delays.",
                "emergency": "I just had an accident, the truck is in the ditch on I-40.",
                "arrived": "I'm at the receiver, checked in at door 12, unloading now.",
            }[behaviour]
            transcript.append({"role": "user", "content": said})
        from agent import CallContext, extract_result, transcript_from

        result = extract_result(CallContext(load_number=load), transcript_from(transcript))
        self.store.upsert_call(
            Provider.RETELL,
            call_id,
            CallUpdate(
                load_number=load,
                status=CallStatus.ENDED,
                call_type="phone_call",
                transcript=transcript if behaviour in ("talk", "emergency", "arrived") else [],
                structured=result.to_dict(),
                disconnection_reason=reason.get(behaviour, "agent_hangup"),
            ),
        )
        return Placement("retell", call_id)

    async def aclose(self) -> None:
        return None


def a_load(number: str = "L-100", **fields: object) -> LoadIn:
    values: dict[str, object] = {
        "load_number": number,
        "driver_name": "Maria Lopez",
        "driver_phone": "+13125550147",
        "origin": "Dallas, TX",
        "destination": "Denver, CO",
        "pickup_at": datetime(2026, 3, 6, 14, 0, tzinfo=UTC),
        "pickup_tz": "America/Chicago",
        "delivery_at": datetime(2026, 3, 7, 18, 0, tzinfo=UTC),
        "delivery_tz": "America/Denver",
    }
    values.update(fields)
    return LoadIn.model_validate(values)


@pytest.fixture(params=["sqlite", "postgres", "supabase"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store of each backend; Supabase through the PostgREST double."""
    if request.param == "sqlite":
        from db.sqlite_store import SqliteStore

        opened: Store = SqliteStore(tmp_path / "scheduler.db")
        opened.migrate()
        yield opened
        opened.close()
        return
    from db.postgres_store import PostgresStore

    url = request.getfixturevalue("postgres_database")()
    postgres = PostgresStore(url)
    postgres.migrate()
    if request.param == "postgres":
        yield postgres
        postgres.close()
        return
    from db.supabase_store import SupabaseStore
    from tests.db.postgrest_double import PostgrestDouble

    double = PostgrestDouble(url).start()
    supabase = SupabaseStore(double.url, double.service_role_key)
    try:
        yield supabase
    finally:
        supabase.close()
        double.stop()
        postgres.close()


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()
