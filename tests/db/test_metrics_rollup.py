"""Metrics served from the daily rollups equal the same metrics worked out from every call.

The expected figures are computed here in Python from the calls the Store exports, so each test
holds the rollups (kept by triggers, or added in bulk) to the calls as they are after inserts,
merges that move a call between groups, and bulk inserts, on both backends.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from db.models import Call, CallFilters, CallMetrics, CallStatus, CallUpdate, DayCount, Provider
from db.store import Store

T0 = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
OUTCOMES = ["In-Transit Update", "Arrival Confirmation", "Emergency Escalation", "Incomplete"]
DRIVER_STATUSES = ["Driving", "Delayed", "Arrived", None]
EMERGENCIES = [None, None, "Accident", "Breakdown"]
KEYWORDS = ["traffic", "weather", "detour", "flat tire"]


def expected_metrics(
    calls: list[Call], provider: Provider, *, include_simulated: bool = False
) -> CallMetrics:
    """CallMetrics by definition, from whole calls (simulated ones only when included)."""
    mine = [
        call
        for call in calls
        if call.provider == provider and (include_simulated or call.call_type != "simulated")
    ]

    def average(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    def counts(values: list[str | None]) -> dict[str, int]:
        return dict(sorted(Counter(v for v in values if v is not None).items()))

    per_day = Counter(
        (c.created_at.astimezone(UTC).date().isoformat(), c.call_outcome) for c in mine
    )
    buckets = Counter(math.floor(c.duration_secs / 60) for c in mine if c.duration_secs is not None)
    keywords: Counter[str] = Counter()
    for call in mine:
        for keyword, hits in (call.keyword_hits or {}).items():
            keywords[keyword] += hits
    latencies = [
        c.latency["e2e_p50_ms"]
        for c in mine
        if c.latency and isinstance(c.latency.get("e2e_p50_ms"), int | float)
    ]
    return CallMetrics(
        total_calls=len(mine),
        ended_calls=sum(c.status == CallStatus.ENDED for c in mine),
        avg_duration_secs=average([c.duration_secs for c in mine if c.duration_secs is not None]),
        avg_sentiment=average([c.sentiment for c in mine if c.sentiment is not None]),
        avg_interruptions=average(
            [c.interruptions_est for c in mine if c.interruptions_est is not None]
        ),
        total_tokens=sum(c.tokens_estimated or 0 for c in mine),
        emergencies=sum(c.call_outcome == "Emergency Escalation" for c in mine),
        delays=sum(c.driver_status == "Delayed" for c in mine),
        incomplete=sum(c.call_outcome == "Incomplete" for c in mine),
        by_outcome=counts([c.call_outcome for c in mine]),
        by_status=counts([c.status.value for c in mine]),
        by_driver_status=counts([c.driver_status for c in mine]),
        by_emergency_type=counts([c.emergency_type for c in mine]),
        per_day=[
            DayCount(day=day, call_outcome=outcome, calls=n)
            for (day, outcome), n in sorted(
                per_day.items(), key=lambda kv: (kv[0][0], kv[0][1] is not None, kv[0][1] or "")
            )
        ],
        keyword_totals=dict(sorted(keywords.items())),
        duration_histogram=[
            {"bucket_start_secs": b * 60, "bucket_end_secs": (b + 1) * 60, "calls": n}
            for b, n in sorted(buckets.items())
        ],
        avg_latency_ms=average(latencies),
    )


def assert_same_metrics(actual: CallMetrics, expected: CallMetrics) -> None:
    averages = ("avg_duration_secs", "avg_sentiment", "avg_interruptions", "avg_latency_ms")
    for name in averages:
        want = getattr(expected, name)
        assert getattr(actual, name) == (None if want is None else pytest.approx(want, rel=1e-9))
    assert actual.model_dump(exclude=set(averages)) == expected.model_dump(exclude=set(averages))


def random_update(rng: random.Random, day: int) -> CallUpdate:
    outcome = rng.choice(OUTCOMES)
    return CallUpdate(
        status=rng.choice(list(CallStatus)),
        call_type=rng.choice([None, "web_call", "simulated"]),
        created_at=T0 - timedelta(days=day, hours=rng.randrange(0, 20)),
        duration_secs=rng.choice([None, round(rng.uniform(0, 400), 2)]),
        sentiment=rng.choice([None, round(rng.uniform(-1, 1), 3)]),
        interruptions_est=rng.choice([None, rng.randrange(0, 6)]),
        tokens_estimated=rng.choice([None, rng.randrange(50, 900)]),
        keyword_hits=rng.choice([None, {k: rng.randrange(0, 3) for k in rng.sample(KEYWORDS, 2)}]),
        latency=rng.choice([None, {"e2e_p50_ms": rng.randrange(500, 1500)}, {"e2e_p50_ms": "?"}]),
        structured={
            "call_outcome": outcome,
            "driver_status": rng.choice(DRIVER_STATUSES),
            "emergency_type": rng.choice(EMERGENCIES)
            if outcome == "Emergency Escalation"
            else None,
        },
    )


def filter_cases() -> list[CallFilters]:
    """Whole days (rollup only), edges inside a day (rollup plus scanned edges), categories.
    Each runs once per provider."""
    midnight = T0.replace(hour=0, minute=0)
    return [
        CallFilters(),
        CallFilters(created_from=midnight - timedelta(days=3), created_to=midnight),
        CallFilters(created_from=T0 - timedelta(days=4, hours=5), created_to=T0),
        CallFilters(created_from=T0 - timedelta(hours=30)),
        CallFilters(created_to=T0 - timedelta(days=2, minutes=7)),
        CallFilters(created_from=T0 - timedelta(hours=10), created_to=T0 - timedelta(hours=2)),
        CallFilters(status=CallStatus.ENDED, call_outcome="Emergency Escalation"),
        CallFilters(driver_status="Delayed", created_from=T0 - timedelta(days=2, hours=1)),
        CallFilters(emergency_type="Accident"),
        CallFilters(driver_status=""),  # matches no call: a missing status is not ''
        CallFilters(call_outcome="", created_from=T0 - timedelta(days=3)),
        CallFilters(load_number="L-7"),  # not in the rollup: answered from the calls
    ]


def assert_rollup_matches_calls(store: Store) -> None:
    for filters in filter_cases():
        matching = list(store.iter_calls(filters))
        for provider in (None, *Provider):
            scoped = filters.model_copy(update={"provider": provider})
            wanted = [c for c in matching if provider in (None, c.provider)]
            assert store.search_calls(scoped, page_size=1).total == len(wanted)
        for provider in Provider:
            for include in (False, True):  # simulated calls counted only when included
                scoped = filters.model_copy(
                    update={"provider": provider, "include_simulated": include}
                )
                expected = expected_metrics(matching, provider, include_simulated=include)
                assert_same_metrics(store.retell_metrics(scoped), expected)
        pipecat = store.pipecat_metrics(filters.model_copy(update={"provider": None}))
        assert_same_metrics(pipecat.aggregates, expected_metrics(matching, Provider.PIPECAT))


def test_metrics_follow_single_inserts_and_merges_that_move_calls_between_groups(
    store: Store,
) -> None:
    rng = random.Random(7)
    ids = [f"c{i}" for i in range(60)]
    for i, call_id in enumerate(ids):
        provider = Provider.RETELL if i % 3 else Provider.PIPECAT
        update = random_update(rng, day=i % 6).model_copy(update={"load_number": f"L-{i % 9}"})
        store.upsert_call(provider, call_id, update)
    assert_rollup_matches_calls(store)

    for i, call_id in enumerate(ids[::2]):
        provider = Provider.RETELL if (2 * i) % 3 else Provider.PIPECAT
        later = random_update(rng, day=0).model_copy(update={"created_at": None})
        store.upsert_call(provider, call_id, later)  # new outcome, status, duration, keywords
    store.upsert_call(
        Provider.RETELL, "c1", CallUpdate(transcript=[{"role": "user", "content": "hi"}])
    )
    assert_rollup_matches_calls(store)


def test_metrics_follow_bulk_inserts_and_later_merges_of_those_calls(store: Store) -> None:
    rng = random.Random(11)
    store.upsert_call(Provider.PIPECAT, "b0", random_update(rng, day=1))
    rows = [
        (Provider.RETELL if i % 4 else Provider.PIPECAT, f"b{i}", random_update(rng, day=i % 5))
        for i in range(300)
    ]
    assert store.bulk_insert_calls(rows) == 299  # b0 existed and is left as it was
    assert store.bulk_insert_calls(rows[:50]) == 0
    assert_rollup_matches_calls(store)

    for i in range(0, 300, 7):
        provider = Provider.RETELL if i % 4 else Provider.PIPECAT
        store.upsert_call(provider, f"b{i}", random_update(rng, day=0))
    store.upsert_call(Provider.PIPECAT, "new", random_update(rng, day=2))
    assert_rollup_matches_calls(store)


def test_metrics_stay_exact_when_threads_merge_calls_at_once(store: Store) -> None:
    """Writers racing on the same groups (today's calls, same outcomes) neither lose a count
    nor fail (on PostgreSQL the rollup rows are locked in key order, so no deadlock)."""
    rng = random.Random(3)
    plans = [
        [(f"t{worker}-{i % 5}", random_update(rng, day=i % 2)) for i in range(20)]
        for worker in range(6)
    ]

    def write(plan: list[tuple[str, CallUpdate]]) -> None:
        for call_id, update in plan:
            store.upsert_call(Provider.RETELL, call_id, update)

    with ThreadPoolExecutor(max_workers=6) as pool:
        for finished in [pool.submit(write, plan) for plan in plans]:
            finished.result()
    assert store.search_calls(CallFilters()).total == 30
    assert_rollup_matches_calls(store)
