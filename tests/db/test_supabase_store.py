"""SupabaseStore through the real supabase-py client against a local PostgREST double that runs
the migrations' SQL functions on a real PostgreSQL database: the HTTP traffic request by
request, results identical to PostgresStore's, and every failure as a typed error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from db import NotMigrated, StoreAuthError, StoreUnavailable, WriteFailed, open_store
from db.models import CallFilters, CallStatus, CallUpdate, Event, Provider
from db.postgres_store import PostgresStore
from db.supabase_store import INSERT_BATCH_ROWS, SupabaseStore
from settings import load_settings
from tests.conftest import free_port
from tests.db.postgrest_double import PostgrestDouble

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def serve(double: PostgrestDouble) -> Iterator[PostgrestDouble]:
    double.start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def postgrest(postgres: PostgresStore, database_url: str) -> Iterator[PostgrestDouble]:
    """The project's REST API on the database `postgres` sees directly (for arranging data and
    comparing results)."""
    yield from serve(PostgrestDouble(database_url))


@pytest.fixture
def store(postgrest: PostgrestDouble) -> Iterator[SupabaseStore]:
    store = SupabaseStore(postgrest.url, postgrest.service_role_key)
    yield store
    store.close()


def seed_calls(store: PostgresStore, count: int) -> None:
    driver_id = store.ensure_driver("Maria Lopez", "+15550123")
    rows = []
    for i in range(count):
        emergency = i % 10 == 0
        structured = (
            {"call_outcome": "Emergency Escalation", "emergency_type": "Breakdown"}
            if emergency
            else {"call_outcome": "In-Transit Update", "driver_status": "Delayed"}
        )
        words = "tire blew out on the shoulder" if emergency else "heavy traffic near Dallas"
        rows.append(
            (
                Provider.RETELL if i % 3 else Provider.PIPECAT,
                f"call-{i:04d}",
                CallUpdate(
                    driver_id=driver_id,
                    load_number=f"L-{i % 7}",
                    status=CallStatus.ENDED,
                    created_at=NOW - timedelta(hours=i),
                    duration_secs=30.0 + i,
                    tokens_estimated=100 + i,
                    keyword_hits={"traffic": 1} if not emergency else {"tire": 2},
                    structured=structured,
                    transcript=[{"role": "user", "content": words}],
                ),
            )
        )
    assert store.bulk_insert_calls(rows) == count


def test_supabase_settings_select_this_store(postgrest: PostgrestDouble) -> None:
    settings = load_settings(
        supabase_url=postgrest.url, supabase_service_role_key=postgrest.service_role_key
    )
    store = open_store(settings)
    try:
        assert isinstance(store, SupabaseStore)
        store.check()
    finally:
        store.close()


def test_every_request_is_an_rpc_post_with_the_service_role_key(
    store: SupabaseStore, postgrest: PostgrestDouble
) -> None:
    store.check()
    store.ensure_driver("Maria Lopez", "+15550123")
    store.search_calls(CallFilters())
    store.retell_metrics(CallFilters())

    assert [r.path for r in postgrest.requests] == [
        "/rest/v1/rpc/dispatch_schema_version",
        "/rest/v1/rpc/ensure_driver",
        "/rest/v1/rpc/search_calls",
        "/rest/v1/rpc/retell_metrics",
    ]
    for request in postgrest.requests:
        assert request.method == "POST"
        assert request.query == {}
        assert request.headers["apikey"] == postgrest.service_role_key
        assert request.headers["authorization"] == f"Bearer {postgrest.service_role_key}"
        assert request.headers["content-type"].startswith("application/json")


def test_search_sends_filters_sort_and_page_and_returns_postgres_results(
    store: SupabaseStore, postgres: PostgresStore, postgrest: PostgrestDouble
) -> None:
    seed_calls(postgres, 40)
    filters = CallFilters(
        query="traffic",
        provider=Provider.RETELL,
        driver_name="lopez",
        created_from=NOW - timedelta(days=1),
    )

    page = store.search_calls(filters, sort="duration_secs", page=2, page_size=5)

    assert postgrest.requests[-1].body == {
        "p_filters": {
            "query": "traffic",
            "provider": "retell",
            "driver_name": "lopez",
            "created_from": "2026-11-19T12:00:00Z",
        },
        "p_sort": "duration_secs",
        "p_page": 2,
        "p_page_size": 5,
    }
    assert page == postgres.search_calls(filters, sort="duration_secs", page=2, page_size=5)
    assert page.total == 14 and len(page.items) == 5
    assert [call.duration_secs for call in page.items] == sorted(
        c.duration_secs for c in page.items
    )


def test_naive_datetimes_are_sent_as_utc(store: SupabaseStore, postgrest: PostgrestDouble) -> None:
    store.search_calls(CallFilters(created_to=datetime(2026, 1, 1, 8, 30)))
    assert postgrest.requests[-1].body["p_filters"] == {"created_to": "2026-01-01T08:30:00Z"}


def test_upsert_sends_only_known_fields_and_the_database_merges(
    store: SupabaseStore, postgrest: PostgrestDouble
) -> None:
    first = store.upsert_call(
        Provider.RETELL,
        "call-1",
        CallUpdate(
            status=CallStatus.ONGOING,
            load_number="L-77",
            transcript=[{"role": "user", "content": "hi"}],
        ),
    )
    assert postgrest.requests[-1].body == {
        "p_provider": "retell",
        "p_provider_call_id": "call-1",
        "p_patch": {
            "status": "ongoing",
            "load_number": "L-77",
            "transcript": [{"role": "user", "content": "hi"}],
        },
    }
    ended = store.upsert_call(
        Provider.RETELL,
        "call-1",
        CallUpdate(status=CallStatus.ENDED, structured={"call_outcome": "Arrival Confirmation"}),
    )
    late = store.upsert_call(
        Provider.RETELL, "call-1", CallUpdate(status=CallStatus.ONGOING, transcript=[])
    )

    assert ended.id == first.id == late.id
    assert late.status is CallStatus.ENDED
    assert late.load_number == "L-77"
    assert late.transcript == [{"role": "user", "content": "hi"}]
    assert late.call_outcome == "Arrival Confirmation"
    assert store.get_call("call-1", Provider.RETELL) == late
    assert postgrest.requests[-1].body == {"p_provider_call_id": "call-1", "p_provider": "retell"}


def test_events_are_recorded_once(store: SupabaseStore, postgrest: PostgrestDouble) -> None:
    event = Event(
        provider=Provider.PIPECAT,
        provider_call_id="call-9",
        event_type="session_end",
        idempotency_key="call-9:end",
        payload={"reason": "hangup"},
    )
    assert store.record_event(event) is True
    assert store.record_event(event) is False
    assert postgrest.requests[-1].body == {
        "p_provider": "pipecat",
        "p_provider_call_id": "call-9",
        "p_event_type": "session_end",
        "p_idempotency_key": "call-9:end",
        "p_payload": {"reason": "hangup"},
    }


def test_metrics_are_computed_by_the_database_and_match_postgres(
    store: SupabaseStore, postgres: PostgresStore, postgrest: PostgrestDouble
) -> None:
    seed_calls(postgres, 60)
    filters = CallFilters(load_number="L-3")

    assert store.retell_metrics(filters) == postgres.retell_metrics(filters)
    assert postgrest.requests[-1].body == {
        "p_filters": {"load_number": "L-3", "simulated": False, "timezone": "UTC"}
    }
    pipecat = store.pipecat_metrics(filters, page=1, page_size=3)
    assert pipecat == postgres.pipecat_metrics(filters, page=1, page_size=3)
    assert postgrest.requests[-1].body == {
        "p_filters": {"load_number": "L-3", "simulated": False, "timezone": "UTC"},
        "p_page": 1,
        "p_page_size": 3,
    }
    assert pipecat.total == 3 and pipecat.aggregates.total_calls == 3
    histogram = store.duration_histogram(CallFilters())
    assert histogram == postgres.duration_histogram(CallFilters())
    assert postgrest.requests[-1].path == "/rest/v1/rpc/duration_histogram"


def test_simulated_calls_are_counted_only_when_included(
    store: SupabaseStore, postgres: PostgresStore, postgrest: PostgrestDouble
) -> None:
    seed_calls(postgres, 10)
    before = store.retell_metrics(CallFilters(provider=Provider.RETELL))
    postgres.upsert_call(
        Provider.RETELL,
        "sim-1",
        CallUpdate(call_type="simulated", created_at=NOW - timedelta(days=3), duration_secs=70.0),
    )
    assert store.retell_metrics(CallFilters(provider=Provider.RETELL)) == before
    included = CallFilters(provider=Provider.RETELL, include_simulated=True)
    assert store.retell_metrics(included).total_calls == before.total_calls + 1
    assert postgrest.requests[-1].body == {"p_filters": {"provider": "retell", "timezone": "UTC"}}
    assert store.retell_metrics(included) == postgres.retell_metrics(included)
    assert "sim-1" in [c.provider_call_id for c in store.search_calls(CallFilters()).items]
    assert "simulated" not in postgrest.requests[-1].body["p_filters"]


def test_export_walks_a_keyset_in_batches_past_postgrest_row_cap(
    store: SupabaseStore, postgres: PostgresStore, postgrest: PostgrestDouble
) -> None:
    seed_calls(postgres, 1_203)
    postgrest.requests.clear()

    exported = list(store.iter_calls(CallFilters(), batch_size=400))

    assert [c.provider_call_id for c in exported] == [f"call-{i:04d}" for i in range(1_203)]
    bodies = [r.body for r in postgrest.rpc_requests()]
    assert [r.path for r in postgrest.requests] == ["/rest/v1/rpc/export_calls"] * 4
    assert bodies[0] == {
        "p_filters": {},
        "p_after_created_at": None,
        "p_after_id": None,
        "p_limit": 400,
    }
    last_of_first_batch = exported[399]
    assert bodies[1]["p_after_id"] == last_of_first_batch.id
    assert datetime.fromisoformat(bodies[1]["p_after_created_at"]) == last_of_first_batch.created_at


def test_bulk_insert_posts_batches_and_skips_existing_calls(
    store: SupabaseStore, postgres: PostgresStore, postgrest: PostgrestDouble
) -> None:
    postgres.upsert_call(Provider.PIPECAT, "bulk-0003", CallUpdate(load_number="KEEP"))
    count = INSERT_BATCH_ROWS + 20
    rows = (
        (
            Provider.PIPECAT,
            f"bulk-{i:04d}",
            CallUpdate(
                created_at=NOW - timedelta(minutes=i), structured={"driver_status": "Driving"}
            ),
        )
        for i in range(count)
    )

    assert store.bulk_insert_calls(rows) == count - 1

    batches = [r.body["p_calls"] for r in postgrest.rpc_requests()]
    assert [len(batch) for batch in batches] == [INSERT_BATCH_ROWS, 20]
    assert batches[0][0] == {
        "provider": "pipecat",
        "provider_call_id": "bulk-0000",
        "created_at": "2026-11-20T12:00:00Z",
        "structured": {"driver_status": "Driving"},
    }
    kept = postgres.get_call("bulk-0003")
    assert kept is not None and kept.load_number == "KEEP"
    assert postgres.search_calls(CallFilters(driver_status="Driving")).total == count - 1


def test_a_wrong_key_is_an_auth_error_naming_the_variable(postgrest: PostgrestDouble) -> None:
    store = SupabaseStore(postgrest.url, "not-the-service-role-key")
    try:
        with pytest.raises(StoreAuthError, match="SUPABASE_SERVICE_ROLE_KEY") as raised:
            store.search_calls(CallFilters())
    finally:
        store.close()
    assert "401" in str(raised.value)
    assert "not-the-service-role-key" not in str(raised.value)


def test_the_anon_key_is_refused_by_the_database_grants(postgrest: PostgrestDouble) -> None:
    store = SupabaseStore(postgrest.url, postgrest.anon_key)
    try:
        with pytest.raises(StoreAuthError, match="service_role key"):
            store.upsert_call(Provider.RETELL, "call-1", CallUpdate())
    finally:
        store.close()


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_unavailable(
    store: SupabaseStore, postgrest: PostgrestDouble, status: int
) -> None:
    postgrest.fail_next(status)
    with pytest.raises(StoreUnavailable, match=f"HTTP {status}"):
        store.retell_metrics(CallFilters())
    store.retell_metrics(CallFilters())  # the next request goes through again


def test_a_postgrest_json_500_is_unavailable(
    store: SupabaseStore, postgrest: PostgrestDouble
) -> None:
    postgrest.fail_next(500, {"code": "XX000", "message": "internal error", "details": None})
    with pytest.raises(StoreUnavailable, match="SUPABASE_URL"):
        store.ensure_driver("Maria Lopez")


def test_rejected_writes_are_write_failed_and_keep_nothing(
    store: SupabaseStore, postgres: PostgresStore
) -> None:
    with pytest.raises(WriteFailed, match="409"):
        store.upsert_call(Provider.RETELL, "call-1", CallUpdate(driver_id=424242))
    with pytest.raises(WriteFailed):
        store.bulk_insert_calls(
            [(Provider.RETELL, "call-2", CallUpdate.model_construct(duration_secs=-1))]
        )
    assert postgres.search_calls(CallFilters()).total == 0


def test_unmigrated_project_says_how_to_migrate(database_url: str) -> None:
    for double in serve(PostgrestDouble(database_url)):
        store = SupabaseStore(double.url, double.service_role_key)
        try:
            with pytest.raises(NotMigrated, match="db/migrations"):
                store.check()
            with pytest.raises(NotMigrated, match="python -m db migrate"):
                store.migrate()
            with pytest.raises(NotMigrated):
                store.search_calls(CallFilters())
        finally:
            store.close()


def test_migrate_on_a_current_project_applies_nothing(store: SupabaseStore) -> None:
    assert store.migrate() == []


def test_unreachable_project_is_unavailable_naming_supabase_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    store = SupabaseStore(url, "secret-key", timeout_secs=3)
    try:
        with pytest.raises(StoreUnavailable, match="SUPABASE_URL") as raised:
            store.check()
    finally:
        store.close()
    assert url in str(raised.value) and "secret-key" not in str(raised.value)
