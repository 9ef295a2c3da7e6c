"""Demo data: the real agent's conversations with scripted drivers, spread over recent days."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.vocabulary import CallOutcome, DriverStatus
from db.demo_scripts import KIND_WEIGHTS, asked_topic, script_variants
from db.models import CallFilters, CallStatus, Provider
from db.seed import run_conversation, seed_demo_data
from db.sqlite_store import SqliteStore

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    store = SqliteStore(Path(tmp_path_factory.mktemp("seed")) / "demo.db")
    store.migrate()
    written = seed_demo_data(store, calls=600, days=30, seed=7, progress=False, now=NOW)
    assert written == 600
    return store


def test_demo_calls_span_the_last_days_for_both_providers(seeded: SqliteStore) -> None:
    calls = list(seeded.iter_calls(CallFilters()))
    assert len(calls) == 600
    assert all(NOW - timedelta(days=31) <= c.created_at <= NOW for c in calls)
    assert len({c.created_at.date() for c in calls}) >= 25
    providers = Counter(c.provider for c in calls)
    assert providers[Provider.RETELL] > providers[Provider.PIPECAT] > 100
    assert len({c.driver_id for c in calls}) > 100
    assert len({c.load_number for c in calls}) > 100


def test_delays_are_common_emergencies_rare_and_some_calls_incomplete(seeded: SqliteStore) -> None:
    metrics = seeded.retell_metrics(CallFilters())
    pipecat = seeded.pipecat_metrics(CallFilters()).aggregates
    total = metrics.total_calls + pipecat.total_calls
    delays = metrics.delays + pipecat.delays
    emergencies = metrics.emergencies + pipecat.emergencies
    incomplete = metrics.incomplete + pipecat.incomplete
    assert delays / total > 0.08
    assert 0 < emergencies / total < 0.08
    assert 0.05 < incomplete / total < 0.35
    assert metrics.by_outcome[CallOutcome.IN_TRANSIT_UPDATE] > metrics.emergencies
    assert metrics.avg_latency_ms is not None and metrics.total_tokens > 0


def test_each_call_carries_the_agents_own_transcript_and_result(seeded: SqliteStore) -> None:
    for call in seeded.search_calls(CallFilters(status=CallStatus.ENDED), page_size=200).items:
        assert call.structured is not None
        assert call.call_outcome == call.structured["call_outcome"]
        if call.transcript:
            first_name = call.driver_name.split()[0]
            assert call.transcript[0]["role"] == "agent"
            assert first_name in call.transcript[0]["content"]
            assert call.load_number in call.transcript[0]["content"]
            assert call.duration_secs and call.duration_secs > 0
        else:
            assert call.call_outcome == CallOutcome.INCOMPLETE


def test_full_text_search_finds_seeded_conversations(seeded: SqliteStore) -> None:
    delayed = seeded.search_calls(CallFilters(driver_status=DriverStatus.DELAYED)).total
    assert delayed > 0
    assert seeded.search_calls(CallFilters(query="running late")).total > 0


def test_seeding_is_repeatable_with_the_same_seed(tmp_path: Path) -> None:
    stores = [SqliteStore(tmp_path / f"{n}.db") for n in (1, 2)]
    for store in stores:
        store.migrate()
        seed_demo_data(store, calls=40, seed=3, progress=False, now=NOW)
    first, second = (
        [c.model_dump(exclude={"updated_at"}) for c in s.iter_calls(CallFilters())] for s in stores
    )
    assert first == second


def test_a_scripted_driver_answers_the_agents_last_question() -> None:
    assert asked_topic("Good, glad nobody's hurt. What's your exact location?") == (
        "emergency_location"
    )
    assert asked_topic("Got it. What's your ETA to Dallas, TX?") == "eta"
    assert asked_topic("Are you in a door yet, or still waiting for one?") == "unloading"


def test_every_kind_of_driver_gets_a_conversation() -> None:
    import random

    variants = script_variants(len(KIND_WEIGHTS), random.Random(1))
    assert {v.kind for v in variants} == set(KIND_WEIGHTS)
    emergency = next(v for v in variants if v.kind == "emergency_accident")
    conversation = run_conversation(emergency, keywords=("accident",))
    assert conversation.structured["call_outcome"] == CallOutcome.EMERGENCY_ESCALATION
    assert conversation.keyword_hits.get("accident", 0) >= 1
    no_answer = next(v for v in variants if v.kind == "no_answer")
    assert run_conversation(no_answer, keywords=()).transcript_json == "[]"


def test_a_place_said_on_a_call_lies_on_that_loads_route(seeded: SqliteStore) -> None:
    from db.demo_scripts import ROUTES

    route_of = {}
    for route in ROUTES:
        route_of[(route.origin, route.destination)] = route
        route_of[(route.destination, route.origin)] = route
    every_city = {city for route in ROUTES for city in route.cities}
    every_road = {road for route in ROUTES for road in route.highways}
    checked = 0
    for call in seeded.iter_calls(CallFilters()):
        route = route_of[(call.origin, call.destination)]
        said = " ".join(t["content"] for t in call.transcript if t["role"] == "user")
        cities = {city for city in every_city if f"near {city}" in said or f"past {city}" in said}
        roads = {road for road in every_road if f"{road} " in said or f"{road}," in said}
        assert cities <= set(route.cities), (call.origin, call.destination, said)
        assert roads <= set(route.highways), (call.origin, call.destination, said)
        location = (call.structured or {}).get("current_location") or ""
        assert not any(city in location for city in every_city - set(route.cities)), location
        checked += bool(cities or roads)
    assert checked > 100  # most calls on the road say where they are
