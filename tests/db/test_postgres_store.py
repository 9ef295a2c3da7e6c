"""PostgresStore behaviour beyond the shared contract: errors a user can act on, the SQL
functions' own guards, atomic merges under concurrency, and bulk COPY."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from db import NotMigrated, StoreUnavailable, WriteFailed, open_store
from db.models import CallFilters, CallStatus, CallUpdate, Provider
from db.postgres_store import PostgresStore
from settings import load_settings
from tests.conftest import free_port

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(postgres: PostgresStore) -> PostgresStore:
    return postgres


def turns(count: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"turn {i}"} for i in range(count)]


def test_database_url_selects_postgres(database_url: str) -> None:
    store = open_store(load_settings(database_url=database_url))
    try:
        assert isinstance(store, PostgresStore)
        assert store.backend == "postgres"
    finally:
        store.close()


def test_unreachable_server_names_database_url_and_hides_the_password() -> None:
    store = PostgresStore(
        f"postgresql://dispatch:s3cret-pass@127.0.0.1:{free_port()}/dispatch", connect_timeout=2
    )
    with pytest.raises(StoreUnavailable) as raised:
        store.check()
    message = str(raised.value)
    assert "DATABASE_URL" in message
    assert "127.0.0.1" in message
    assert "s3cret-pass" not in message


def test_wrong_password_is_unavailable_without_echoing_it(database_url: str) -> None:
    wrong = database_url.replace("dispatch:dispatch@", "dispatch:not-the-password@")
    with pytest.raises(StoreUnavailable) as raised:
        PostgresStore(wrong).check()
    assert "DATABASE_URL" in str(raised.value)
    assert "not-the-password" not in str(raised.value)


def test_unmigrated_database_says_to_run_migrate(database_url: str) -> None:
    store = PostgresStore(database_url)
    try:
        with pytest.raises(NotMigrated, match="python -m db migrate"):
            store.check()
        with pytest.raises(NotMigrated, match="python -m db migrate"):
            store.search_calls(CallFilters())
        with pytest.raises(NotMigrated):
            store.upsert_call(Provider.RETELL, "call-1", CallUpdate())
    finally:
        store.close()


def test_search_operators_and_quotes_are_plain_words(store: PostgresStore) -> None:
    store.upsert_call(
        Provider.RETELL,
        "call-1",
        CallUpdate(transcript=[{"role": "user", "content": "Two accidents ahead on I-35"}]),
    )
    for query in ["accident & !ahead", "accident:* | (", "'); drop table calllog; --", "!!"]:
        store.search_calls(CallFilters(query=query))  # never a syntax error
    assert store.search_calls(CallFilters(query="accident")).total == 1  # stemmed
    assert store.search_calls(CallFilters(query="accidents ahead")).total == 1
    assert store.search_calls(CallFilters(query="accident & !ahead")).total == 1
    assert store.search_calls(CallFilters(query="accident breakdown")).total == 0
    assert store.search_calls(CallFilters(query="the and of")).total == 0
    assert store.search_calls(CallFilters(query="user")).total == 0  # roles are not searched


def test_sql_function_rejects_unknown_fields_and_bad_types_keeping_nothing(
    store: PostgresStore, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="bogus"):
            conn.execute(
                "select upsert_call('retell', 'call-1', %s)", (Jsonb({"bogus": 1, "origin": "x"}),)
            )
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            conn.execute(
                "select upsert_call('retell', 'call-1', %s)", (Jsonb({"duration_secs": "long"}),)
            )
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown filter"):
            conn.execute("select search_calls(%s)", (Jsonb({"provder": "retell"}),))
    assert store.get_call("call-1") is None


def test_constraint_violations_are_write_failed_and_leave_no_call(store: PostgresStore) -> None:
    with pytest.raises(WriteFailed):
        store.upsert_call(Provider.RETELL, "call-1", CallUpdate(driver_id=12345))
    with pytest.raises(WriteFailed):
        store.upsert_call(Provider.RETELL, "call-1", CallUpdate.model_construct(duration_secs=-5))
    assert store.get_call("call-1") is None


def test_concurrent_merges_keep_the_longest_transcript_and_the_final_status(
    store: PostgresStore,
) -> None:
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def write(length: int) -> None:
        try:
            start.wait()
            status = CallStatus.ENDED if length == 5 else CallStatus.ONGOING
            store.upsert_call(
                Provider.PIPECAT,
                "shared",
                CallUpdate(transcript=turns(length), status=status, tokens_estimated=length),
            )
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    call = store.get_call("shared", Provider.PIPECAT)
    assert call is not None
    assert len(call.transcript) == 8
    assert call.status is CallStatus.ENDED
    assert store.search_calls(CallFilters(provider=Provider.PIPECAT)).total == 1


def test_bulk_copy_derives_columns_like_the_insert_calls_function(
    store: PostgresStore, database_url: str
) -> None:
    driver_id = store.ensure_driver("Dana Reyes", "+15550100")
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    update = CallUpdate(
        driver_id=driver_id,
        created_at=created,
        status=CallStatus.ENDED,
        structured={"call_outcome": "Emergency Escalation", "emergency_type": "Breakdown"},
        transcript=turns(3),
        keyword_hits={"tire": 2},
    )
    assert store.bulk_insert_calls([(Provider.RETELL, "copied", update)]) == 1
    with psycopg.connect(database_url, autocommit=True) as conn:
        inserted = conn.execute(
            "select insert_calls(%s)",
            (
                Jsonb(
                    [
                        {
                            "provider": "retell",
                            "provider_call_id": "via-function",
                            **update.model_dump(mode="json", exclude_none=True),
                        }
                    ]
                ),
            ),
        ).fetchone()
    assert inserted == (1,)
    copied, via_function = store.get_call("copied"), store.get_call("via-function")
    assert copied is not None and via_function is not None
    ignored = {"id", "provider_call_id", "updated_at"}
    assert copied.model_dump(exclude=ignored) == via_function.model_dump(exclude=ignored)
    assert copied.created_at == created
    assert copied.emergency_type == "Breakdown" and copied.driver_name == "Dana Reyes"


def test_bulk_insert_skips_existing_calls_and_a_bad_chunk_keeps_none_of_its_rows(
    store: PostgresStore,
) -> None:
    store.upsert_call(Provider.RETELL, "existing", CallUpdate(load_number="KEEP"))
    now = datetime.now(UTC)
    rows = [
        (Provider.RETELL, f"new-{i}", CallUpdate(created_at=now - timedelta(minutes=i)))
        for i in range(3)
    ]
    assert store.bulk_insert_calls([*rows, (Provider.RETELL, "existing", CallUpdate())]) == 3
    existing = store.get_call("existing")
    assert existing is not None and existing.load_number == "KEEP"

    bad = [
        (Provider.PIPECAT, "ok", CallUpdate()),
        (Provider.PIPECAT, "bad", CallUpdate(driver_id=999)),
    ]
    with pytest.raises(WriteFailed):
        store.bulk_insert_calls(bad)
    assert store.get_call("ok") is None
    assert store.search_calls(CallFilters()).total == 4


def test_exports_and_totals_are_exact_past_a_thousand_rows(store: PostgresStore) -> None:
    now = datetime.now(UTC)
    rows = (
        (Provider.PIPECAT, f"p-{i}", CallUpdate(created_at=now - timedelta(seconds=i % 7)))
        for i in range(2_345)
    )
    assert store.bulk_insert_calls(rows) == 2_345
    exported = [call.provider_call_id for call in store.iter_calls(CallFilters(), batch_size=500)]
    assert len(exported) == len(set(exported)) == 2_345
    assert store.search_calls(CallFilters(), page=3, page_size=1000).total == 2_345
    assert len(store.search_calls(CallFilters(), page=3, page_size=1000).items) == 345
    assert store.pipecat_metrics(CallFilters()).aggregates.total_calls == 2_345
