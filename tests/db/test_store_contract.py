"""The Store contract: every backend (SQLite, PostgreSQL) behaves exactly like this."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from db.models import CallFilters, CallStatus, CallUpdate, DayCount, Event, Provider
from db.store import NotMigrated, Store, StoreError, WriteFailed
from tests.db.sample_calls import T0, add_sample_calls, result, turns

NEWEST_FIRST = ["r5", "p2", "r4", "p1", "r3", "r2", "r1"]


def call_ids(page_or_calls) -> list[str]:
    items = page_or_calls.items if hasattr(page_or_calls, "items") else page_or_calls
    return [call.provider_call_id for call in items]


def found(store: Store, **filters: object) -> list[str]:
    page = store.search_calls(CallFilters(**filters), page_size=100)
    assert page.total == len(page.items)
    return call_ids(page)


# -- schema ----------------------------------------------------------------------------------


def test_migrate_applies_once_then_reports_nothing_to_do(make_store: Callable[[], Store]) -> None:
    store = make_store()
    assert store.migrate() != []
    assert store.migrate() == []
    store.check()


def test_an_unmigrated_database_says_to_run_migrate(make_store: Callable[[], Store]) -> None:
    store = make_store()
    for operation in (
        store.check,
        lambda: store.search_calls(CallFilters()),
        lambda: store.upsert_call(Provider.RETELL, "c1", CallUpdate()),
    ):
        with pytest.raises(NotMigrated, match="python -m db migrate"):
            operation()


def test_an_empty_database_answers_every_read(store: Store) -> None:
    page = store.search_calls(CallFilters())
    assert (page.items, page.total, page.page, page.page_size) == ([], 0, 1, 50)
    assert list(store.iter_calls(CallFilters())) == []
    assert store.get_call("missing") is None
    metrics = store.retell_metrics(CallFilters())
    assert metrics.total_calls == 0 and metrics.total_tokens == 0
    assert metrics.avg_duration_secs is None and metrics.avg_latency_ms is None
    assert metrics.by_outcome == {} and metrics.per_day == [] and metrics.keyword_totals == {}
    assert metrics.duration_histogram == []
    pipecat = store.pipecat_metrics(CallFilters())
    assert pipecat.items == [] and pipecat.total == 0 and pipecat.aggregates.total_calls == 0


# -- drivers and agents ----------------------------------------------------------------------


def test_ensure_driver_finds_the_same_driver_by_phone_or_by_name(store: Store) -> None:
    by_phone = store.ensure_driver("Dana Cruz", "+13125550100")
    assert store.ensure_driver("Dana Cruz", "+13125550100") == by_phone
    assert store.ensure_driver("Dana C.", "+13125550100") == by_phone
    assert store.ensure_driver("Dana Cruz", "+13125550199") != by_phone
    by_name = store.ensure_driver("Eli Park")
    assert store.ensure_driver("Eli Park") == by_name
    assert store.ensure_driver("Eli Parker") != by_name


def test_ensure_agent_is_keyed_by_provider_and_external_id_or_name(store: Store) -> None:
    retell = store.ensure_agent(Provider.RETELL, "Check-in", "agent_abc")
    assert store.ensure_agent(Provider.RETELL, "Renamed", "agent_abc") == retell
    assert store.ensure_agent(Provider.PIPECAT, "Check-in", "agent_abc") != retell
    bot = store.ensure_agent(Provider.PIPECAT, "Bot")
    assert store.ensure_agent(Provider.PIPECAT, "Bot") == bot


# -- writes and merge semantics --------------------------------------------------------------


def test_a_new_call_starts_registered_with_an_empty_transcript(store: Store) -> None:
    driver = store.ensure_driver("Alice Moreno", "+13125550001")
    before = datetime.now(UTC) - timedelta(seconds=5)
    call = store.upsert_call(Provider.RETELL, "call_1", CallUpdate(driver_id=driver))
    assert call.provider == Provider.RETELL and call.provider_call_id == "call_1"
    assert call.status == CallStatus.REGISTERED
    assert call.transcript == [] and call.structured is None and call.call_outcome is None
    assert call.driver_id == driver and call.driver_name == "Alice Moreno"
    assert before <= call.created_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert store.get_call("call_1") == call


def test_a_later_update_fills_fields_and_never_erases_known_ones(store: Store) -> None:
    driver = store.ensure_driver("Alice Moreno", "+13125550001")
    store.upsert_call(
        Provider.RETELL,
        "call_1",
        CallUpdate(
            driver_id=driver,
            load_number="L-1",
            origin="Reno, NV",
            status=CallStatus.ONGOING,
            keyword_hits={"traffic": 1},
            metadata={"source": "test"},
        ),
    )
    call = store.upsert_call(
        Provider.RETELL, "call_1", CallUpdate(duration_secs=42.5, recording_url="https://r/1")
    )
    assert call.driver_id == driver and call.load_number == "L-1" and call.origin == "Reno, NV"
    assert call.status == CallStatus.ONGOING
    assert call.keyword_hits == {"traffic": 1} and call.metadata == {"source": "test"}
    assert call.duration_secs == 42.5 and call.recording_url == "https://r/1"
    call = store.upsert_call(Provider.RETELL, "call_1", CallUpdate(load_number="L-2"))
    assert call.load_number == "L-2" and call.duration_secs == 42.5


def test_the_transcript_is_only_replaced_by_one_at_least_as_long(store: Store) -> None:
    two = turns("Hi Alice.", "Driving.")
    store.upsert_call(Provider.RETELL, "call_1", CallUpdate(transcript=two))
    call = store.upsert_call(Provider.RETELL, "call_1", CallUpdate(transcript=two[:1]))
    assert call.transcript == two
    same_length = turns("Hi Alice.", "Driving near Reno.")
    store.save_transcript(Provider.RETELL, "call_1", same_length)
    assert store.get_call("call_1").transcript == same_length
    store.save_transcript(Provider.RETELL, "call_1", [])
    assert store.get_call("call_1").transcript == same_length
    longer = turns("Hi Alice.", "Driving near Reno.", "Thanks, drive safe.")
    store.save_transcript(Provider.RETELL, "call_1", longer)
    assert store.get_call("call_1").transcript == longer


def test_save_transcript_creates_the_call_when_it_is_new(store: Store) -> None:
    store.save_transcript(Provider.PIPECAT, "bot_1", turns("Hello?"))
    call = store.get_call("bot_1", Provider.PIPECAT)
    assert call is not None and call.transcript == turns("Hello?")
    assert call.status == CallStatus.REGISTERED


def test_outcome_columns_follow_the_structured_result(store: Store) -> None:
    call = store.upsert_call(
        Provider.RETELL,
        "call_1",
        CallUpdate(structured=result("In-Transit Update", "Delayed", delay_reason="Weather")),
    )
    assert (call.call_outcome, call.driver_status, call.emergency_type) == (
        "In-Transit Update",
        "Delayed",
        None,
    )
    call = store.upsert_call(Provider.RETELL, "call_1", CallUpdate(sentiment=0.2))
    assert call.call_outcome == "In-Transit Update" and call.structured["delay_reason"] == "Weather"
    call = store.upsert_call(
        Provider.RETELL,
        "call_1",
        CallUpdate(structured=result("Emergency Escalation", None, emergency_type="Breakdown")),
    )
    assert (call.call_outcome, call.driver_status, call.emergency_type) == (
        "Emergency Escalation",
        None,
        "Breakdown",
    )
    assert call.structured["emergency_type"] == "Breakdown"


def test_status_moves_forward_only(store: Store) -> None:
    def status_after(update: CallStatus) -> CallStatus:
        return store.upsert_call(Provider.RETELL, "call_1", CallUpdate(status=update)).status

    assert status_after(CallStatus.REGISTERED) == CallStatus.REGISTERED
    assert status_after(CallStatus.ONGOING) == CallStatus.ONGOING
    assert status_after(CallStatus.REGISTERED) == CallStatus.ONGOING
    assert status_after(CallStatus.ENDED) == CallStatus.ENDED
    assert status_after(CallStatus.ONGOING) == CallStatus.ENDED
    assert status_after(CallStatus.REGISTERED) == CallStatus.ENDED
    assert status_after(CallStatus.ERROR) == CallStatus.ERROR
    assert status_after(CallStatus.ONGOING) == CallStatus.ERROR


def test_created_at_is_only_honoured_when_the_call_is_new(store: Store) -> None:
    first = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    store.upsert_call(Provider.RETELL, "call_1", CallUpdate(created_at=first))
    call = store.upsert_call(
        Provider.RETELL, "call_1", CallUpdate(created_at=first + timedelta(days=3))
    )
    assert call.created_at == first


def test_the_same_call_id_under_two_providers_is_two_calls(store: Store) -> None:
    store.upsert_call(Provider.RETELL, "shared", CallUpdate(load_number="R"))
    store.upsert_call(Provider.PIPECAT, "shared", CallUpdate(load_number="P"))
    assert store.get_call("shared", Provider.RETELL).load_number == "R"
    assert store.get_call("shared", Provider.PIPECAT).load_number == "P"
    assert store.search_calls(CallFilters()).total == 2


def test_events_are_recorded_once_per_idempotency_key(store: Store) -> None:
    def event(key: str, payload: dict) -> Event:
        return Event(
            provider=Provider.RETELL,
            provider_call_id="call_1",
            event_type="call_ended",
            idempotency_key=key,
            payload=payload,
        )

    assert store.record_event(event("retell:call_1:call_ended", {"n": 1})) is True
    assert store.record_event(event("retell:call_1:call_ended", {"n": 1})) is False
    assert store.record_event(event("retell:call_1:call_ended", {"n": 2})) is False
    assert store.record_event(event("retell:call_1:call_analyzed", {"n": 1})) is True


def test_a_call_pointing_at_an_unknown_driver_is_rejected_and_not_kept(store: Store) -> None:
    with pytest.raises(WriteFailed):
        store.upsert_call(Provider.RETELL, "call_1", CallUpdate(driver_id=987654, load_number="X"))
    assert store.get_call("call_1") is None
    assert store.search_calls(CallFilters()).total == 0


def test_a_rejected_update_changes_nothing_of_the_call(store: Store) -> None:
    store.upsert_call(Provider.RETELL, "call_1", CallUpdate(load_number="L-1"))
    with pytest.raises(WriteFailed):
        store.upsert_call(Provider.RETELL, "call_1", CallUpdate(load_number="L-2", agent_id=987654))
    call = store.get_call("call_1")
    assert call.load_number == "L-1" and call.agent_id is None


def test_threads_sharing_one_store_lose_no_write(store: Store) -> None:
    def write(n: int) -> None:
        store.upsert_call(Provider.PIPECAT, f"t{n}", CallUpdate(status=CallStatus.ONGOING))
        store.upsert_call(Provider.PIPECAT, f"t{n}", CallUpdate(status=CallStatus.ENDED))
        store.record_event(
            Event(
                provider=Provider.PIPECAT,
                provider_call_id=f"t{n}",
                event_type="ended",
                idempotency_key=f"t{n}",
                payload={},
            )
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(write, range(60)))
    assert store.search_calls(CallFilters(status=CallStatus.ENDED)).total == 60


# -- bulk insert -----------------------------------------------------------------------------


def test_bulk_insert_writes_every_call_with_its_derived_columns(store: Store) -> None:
    driver = store.ensure_driver("Alice Moreno", "+13125550001")
    rows = [
        (
            Provider.RETELL if n % 2 else Provider.PIPECAT,
            f"bulk_{n}",
            CallUpdate(
                driver_id=driver,
                status=CallStatus.ENDED,
                created_at=T0 - timedelta(minutes=n),
                structured=result("In-Transit Update", "Delayed" if n % 10 == 0 else "Driving"),
                transcript=turns("Hi Alice.", f"Mile marker {n}, all good."),
            ),
        )
        for n in range(2500)
    ]
    assert store.bulk_insert_calls(iter(rows)) == 2500
    assert store.search_calls(CallFilters()).total == 2500
    assert store.search_calls(CallFilters(provider=Provider.RETELL)).total == 1250
    assert store.search_calls(CallFilters(driver_status="Delayed")).total == 250
    assert call_ids(store.search_calls(CallFilters(query="marker 1234"))) == ["bulk_1234"]
    assert store.get_call("bulk_7").driver_name == "Alice Moreno"


def test_a_failed_bulk_insert_keeps_none_of_its_calls(store: Store) -> None:
    good = [(Provider.RETELL, f"ok_{n}", CallUpdate()) for n in range(10)]
    bad = (Provider.RETELL, "bad", CallUpdate(driver_id=987654))
    with pytest.raises(WriteFailed):
        store.bulk_insert_calls([*good[:5], bad, *good[5:]])
    assert store.search_calls(CallFilters()).total == 0


# -- search, filters, sorting, paging --------------------------------------------------------


def test_calls_are_listed_newest_first_with_the_drivers_name(store: Store) -> None:
    add_sample_calls(store)
    page = store.search_calls(CallFilters())
    assert call_ids(page) == NEWEST_FIRST and page.total == 7
    assert [c.driver_name for c in page.items][:3] == ["Bob Edouard", "Carl Smith", "Alice Moreno"]


def test_sorting_by_time_and_duration(store: Store) -> None:
    add_sample_calls(store)
    assert call_ids(store.search_calls(CallFilters(), sort="created_at")) == NEWEST_FIRST[::-1]
    by_duration = call_ids(store.search_calls(CallFilters(), sort="duration_secs"))
    assert by_duration[:6] == ["r5", "r3", "p1", "r1", "p2", "r2"]
    assert by_duration[6] == "r4"  # no duration: last
    longest = call_ids(store.search_calls(CallFilters(), sort="-duration_secs"))
    assert longest == ["r2", "p2", "r1", "p1", "r3", "r5", "r4"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"provider": "retell"}, ["r5", "r4", "r3", "r2", "r1"]),
        ({"provider": "pipecat"}, ["p2", "p1"]),
        ({"status": "ended"}, ["p2", "p1", "r3", "r2", "r1"]),
        ({"status": "error"}, ["r5"]),
        ({"call_outcome": "In-Transit Update"}, ["p2", "r2", "r1"]),
        ({"driver_status": "Delayed"}, ["p2", "r2"]),
        ({"emergency_type": "Accident"}, ["r3"]),
        ({"load_number": "L-200"}, ["r5", "r2"]),
        ({"load_number": "L-2"}, []),
        ({"driver_name": "BOB"}, ["r5", "r2"]),
        ({"driver_name": "mor"}, ["r4", "p1", "r1"]),
        ({"driver_name": "%"}, []),
        ({"driver_name": "_"}, []),
        ({"created_from": T0 - timedelta(days=1)}, ["r5", "p2", "r4", "p1", "r3"]),
        ({"created_to": T0}, ["p1", "r3", "r2", "r1"]),
        ({"created_from": T0 - timedelta(days=1), "created_to": T0}, ["p1", "r3"]),
        ({"provider": "pipecat", "driver_status": "Delayed"}, ["p2"]),
        ({"provider": "retell", "status": "ended", "call_outcome": "Incomplete"}, []),
    ],
)
def test_each_filter_narrows_the_list(store: Store, filters: dict, expected: list[str]) -> None:
    add_sample_calls(store)
    assert found(store, **filters) == expected


def test_filtering_by_driver_id(store: Store) -> None:
    sample = add_sample_calls(store)
    assert found(store, driver_id=sample.alice) == ["r4", "p1", "r1"]
    assert found(store, driver_id=sample.carl, provider="pipecat") == ["p2"]


def test_pages_cover_every_call_once_with_an_exact_total(store: Store) -> None:
    rows = [
        (Provider.RETELL, f"c{n:02}", CallUpdate(created_at=T0 - timedelta(hours=n)))
        for n in range(23)
    ]
    store.bulk_insert_calls(rows)
    pages = [store.search_calls(CallFilters(), page=n, page_size=10) for n in (1, 2, 3, 4)]
    assert [p.total for p in pages] == [23, 23, 23, 23]
    assert [len(p.items) for p in pages] == [10, 10, 3, 0]
    listed = [c for p in pages for c in call_ids(p)]
    assert listed == [f"c{n:02}" for n in range(23)]


def test_paging_rejects_nonsense(store: Store) -> None:
    for bad in ({"page": 0}, {"page_size": 0}, {"page_size": 100_000}):
        with pytest.raises((ValueError, StoreError)):
            store.search_calls(CallFilters(), **bad)


# -- full text -------------------------------------------------------------------------------


@pytest.fixture
def transcripts(store: Store) -> Store:
    spoken = {
        "foo_bar": turns("How is the load?", "We hauled foo and bar today."),
        "foo_only": turns("How is the load?", "Only foo here."),
        "weather": turns("Any delays?", "We were delayed by weather near Reno."),
        "pallet": turns("Anything else?", "The pallet was unbalanced, so I fixed it."),
        "hello": turns("Hello there.", "Hi."),
    }
    for n, (call_id, transcript) in enumerate(spoken.items()):
        store.upsert_call(
            Provider.RETELL,
            call_id,
            CallUpdate(transcript=transcript, created_at=T0 - timedelta(minutes=n)),
        )
    return store


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("foo", ["foo_bar", "foo_only"]),
        ("FOO Bar", ["foo_bar"]),
        ("delays", ["weather"]),  # same stem as "delayed"
        ("reno weather", ["weather"]),
        ("", ["foo_bar", "foo_only", "weather", "pallet", "hello"]),
        ("agent", []),  # role labels are not what was said
        ("user", []),
        ("foo OR bar", ["foo_bar"]),  # operators are plain words: all must occur
        ('"unbalanced', ["pallet"]),
        ("foo*", ["foo_bar", "foo_only"]),
        ("NEAR(foo bar)", []),
        ("a & b | !c", []),
        ("'; DROP TABLE calllog; --", []),
        ("%", []),
        ("\\", []),
    ],
)
def test_full_text_search_treats_the_query_as_plain_words(
    transcripts: Store, query: str, expected: list[str]
) -> None:
    assert found(transcripts, query=query) == expected
    assert transcripts.search_calls(CallFilters()).total == 5  # and nothing was harmed


def test_full_text_search_combines_with_filters_and_counts_exactly(transcripts: Store) -> None:
    page = transcripts.search_calls(CallFilters(query="foo"), page_size=1)
    assert page.total == 2 and call_ids(page) == ["foo_bar"]
    assert found(transcripts, query="foo", provider="pipecat") == []
    assert found(transcripts, query="foo", created_to=T0 - timedelta(seconds=30)) == ["foo_only"]


def test_full_text_search_follows_the_latest_transcript(store: Store) -> None:
    store.save_transcript(Provider.RETELL, "c1", turns("Hi.", "All good."))
    assert found(store, query="tire") == []
    store.save_transcript(
        Provider.RETELL, "c1", turns("Hi.", "Flat tire on I-80.", "Help is coming.")
    )
    assert found(store, query="tire") == ["c1"]
    assert found(store, query="good") == []


# -- export ----------------------------------------------------------------------------------


def test_iter_calls_yields_every_match_newest_first_across_batches(store: Store) -> None:
    # Seven calls share each timestamp, so batches must break ties by id.
    rows = [
        (
            Provider.RETELL if n % 3 else Provider.PIPECAT,
            f"c{n:02}",
            CallUpdate(created_at=T0 - timedelta(hours=n // 7), load_number=f"L{n % 2}"),
        )
        for n in range(23)
    ]
    store.bulk_insert_calls(rows)
    expected = call_ids(store.search_calls(CallFilters(), page_size=100))
    exported = call_ids(list(store.iter_calls(CallFilters(), batch_size=4)))
    assert exported == expected and len(set(exported)) == 23
    filtered = call_ids(list(store.iter_calls(CallFilters(load_number="L1"), batch_size=3)))
    assert filtered == call_ids(store.search_calls(CallFilters(load_number="L1"), page_size=100))
    assert len(filtered) == 11


def test_iter_calls_exports_whole_calls(store: Store) -> None:
    add_sample_calls(store)
    exported = list(store.iter_calls(CallFilters(provider=Provider.PIPECAT), batch_size=1))
    assert call_ids(exported) == ["p2", "p1"]
    assert exported[0] == store.get_call("p2", Provider.PIPECAT)


# -- metrics ---------------------------------------------------------------------------------


def test_retell_metrics_over_the_sample_calls(store: Store) -> None:
    add_sample_calls(store)
    metrics = store.retell_metrics(CallFilters())  # provider defaults to retell: r1..r5
    assert metrics.total_calls == 5
    assert metrics.ended_calls == 3
    assert metrics.avg_duration_secs == pytest.approx((100 + 250 + 40 + 5) / 4)
    assert metrics.avg_sentiment == pytest.approx((0.5 - 0.2 - 0.8) / 3)
    assert metrics.avg_interruptions == pytest.approx(4 / 3)
    assert metrics.total_tokens == 680
    assert (metrics.emergencies, metrics.delays, metrics.incomplete) == (1, 1, 1)
    assert metrics.by_outcome == {
        "In-Transit Update": 2,
        "Emergency Escalation": 1,
        "Incomplete": 1,
    }
    assert metrics.by_status == {"ended": 3, "ongoing": 1, "error": 1}
    assert metrics.by_driver_status == {"Driving": 1, "Delayed": 1}
    assert metrics.by_emergency_type == {"Accident": 1}
    assert metrics.per_day == [
        DayCount(day="2026-03-08", call_outcome="In-Transit Update", calls=2),
        DayCount(day="2026-03-09", call_outcome="Emergency Escalation", calls=1),
        DayCount(day="2026-03-10", call_outcome=None, calls=1),
        DayCount(day="2026-03-10", call_outcome="Incomplete", calls=1),
    ]
    assert metrics.keyword_totals == {"traffic": 2, "weather": 1, "delay": 2, "accident": 1}
    assert metrics.duration_histogram == [
        {"bucket_start_secs": 0, "bucket_end_secs": 60, "calls": 2},
        {"bucket_start_secs": 60, "bucket_end_secs": 120, "calls": 1},
        {"bucket_start_secs": 240, "bucket_end_secs": 300, "calls": 1},
    ]
    assert metrics.avg_latency_ms == pytest.approx(1000)


def test_retell_metrics_honour_every_filter(store: Store) -> None:
    sample = add_sample_calls(store)
    alice = store.retell_metrics(CallFilters(driver_id=sample.alice))
    assert alice.total_calls == 2 and alice.by_outcome == {"In-Transit Update": 1, "Incomplete": 1}
    assert store.retell_metrics(CallFilters(query="accident")).total_calls == 1
    assert store.retell_metrics(CallFilters(load_number="L-200")).total_tokens == 400
    window = CallFilters(created_from=T0 - timedelta(days=1), created_to=T0)
    assert store.retell_metrics(window).by_outcome == {"Emergency Escalation": 1}
    assert store.retell_metrics(CallFilters(provider=Provider.PIPECAT)).total_calls == 2


def test_figures_leave_failed_starts_out_and_count_them_on_their_own(store: Store) -> None:
    add_sample_calls(store)  # r5 never connected: status error
    connected = store.retell_metrics(CallFilters(failed_start=False))
    assert connected.total_calls == 4 and "error" not in connected.by_status
    assert connected.per_day[-1] == DayCount(day="2026-03-10", call_outcome="Incomplete", calls=1)
    assert all(day.call_outcome is not None for day in connected.per_day)  # r5 was the None
    assert connected.avg_duration_secs == pytest.approx((100 + 250 + 40) / 3)
    assert sum(b["calls"] for b in connected.duration_histogram) == 3
    failed = store.retell_metrics(CallFilters(failed_start=True))
    assert failed.total_calls == 1 and failed.by_status == {"error": 1}
    assert found(store, failed_start=True) == ["r5"]
    assert "r5" not in found(store, failed_start=False)
    # The same answer from the rollups (whole days) as from a scan (a driver filter).
    window = CallFilters(failed_start=False, created_from=T0 - timedelta(days=5))
    scanned = window.model_copy(update={"load_number": "L-200"})
    assert store.retell_metrics(scanned).total_calls == 1  # r2; r5 (also L-200) failed
    assert store.retell_metrics(window).total_calls == connected.total_calls


def add_simulated_call(store: Store, call_id: str = "sim-1") -> None:
    """A call the Trigger page simulated: Retell's protocol, call_type simulated."""
    store.upsert_call(
        Provider.RETELL,
        call_id,
        CallUpdate(
            status=CallStatus.ENDED,
            call_type="simulated",
            created_at=T0 - timedelta(days=2),
            load_number="L-SIM",
            duration_secs=70.0,
            sentiment=0.5,
            keyword_hits={"traffic": 4},
            latency={"e2e_p50_ms": 900},
            structured={"call_outcome": "Arrival Confirmation"},
        ),
    )


def test_a_simulated_call_is_counted_in_figures_only_when_included(store: Store) -> None:
    add_sample_calls(store)
    without = store.retell_metrics(CallFilters())
    add_simulated_call(store)
    assert store.retell_metrics(CallFilters()) == without  # left out by default
    included = store.retell_metrics(CallFilters(include_simulated=True))
    assert included.total_calls == without.total_calls + 1
    assert included.by_outcome["Arrival Confirmation"] == (
        without.by_outcome.get("Arrival Confirmation", 0) + 1
    )
    assert included.keyword_totals["traffic"] == without.keyword_totals.get("traffic", 0) + 4
    # Whole days (the rollups), a partial day (a scan) and a filter the rollups lack agree.
    for extra in (
        {"created_from": T0 - timedelta(days=5)},
        {"created_from": T0 - timedelta(days=2, hours=1), "created_to": T0},
        {"load_number": "L-SIM"},
    ):
        window = CallFilters(**extra)
        plus = store.retell_metrics(window.model_copy(update={"include_simulated": True}))
        assert plus.total_calls == store.retell_metrics(window).total_calls + 1
    # The other figures follow the same switch.
    with_simulated = store.latency_trend(CallFilters(include_simulated=True))
    default_days = store.latency_trend(CallFilters())
    assert sum(d.calls for d in with_simulated) == sum(d.calls for d in default_days) + 1
    histogram = store.duration_histogram(CallFilters(include_simulated=True))
    default = store.duration_histogram(CallFilters())
    assert sum(b["calls"] for b in histogram) == sum(b["calls"] for b in default) + 1
    store.upsert_call(
        Provider.RETELL,
        "sim-1",
        CallUpdate(structured={"call_outcome": "Arrival Confirmation", "on_time_status": "Late"}),
    )
    late = store.on_time_counts(CallFilters()).get("Late", 0)
    assert store.on_time_counts(CallFilters(include_simulated=True))["Late"] == late + 1
    # Lists and searches show it whatever the switch says; it is recorded as what it is.
    assert "sim-1" in found(store) and "sim-1" in found(store, include_simulated=True)
    assert store.get_call("sim-1").call_type == "simulated"
    # A call that turns out to be simulated leaves the figures (the rollups move it).
    store.upsert_call(Provider.RETELL, "r1", CallUpdate(call_type="simulated"))
    assert store.retell_metrics(CallFilters()).total_calls == without.total_calls - 1
    assert store.retell_metrics(CallFilters(include_simulated=True)) == included


def test_duration_histograms_are_binned_by_the_data(store: Store) -> None:
    durations = [12.0, 31.0, 33.0, 47.5, 58.0, 64.0, 95.0, 118.0]  # under two minutes
    for n, secs in enumerate(durations):
        store.upsert_call(Provider.RETELL, f"h{n}", CallUpdate(duration_secs=secs, created_at=T0))
    store.upsert_call(Provider.RETELL, "h-none", CallUpdate(created_at=T0))  # no duration
    store.upsert_call(Provider.PIPECAT, "h-long", CallUpdate(duration_secs=3000.0, created_at=T0))
    bins = store.duration_histogram(CallFilters(provider=Provider.RETELL))
    assert [(b["bucket_start_secs"], b["bucket_end_secs"]) for b in bins][:2] == [
        (10, 15),
        (15, 20),
    ]
    assert len(bins) <= 24 and sum(b["calls"] for b in bins) == len(durations)
    assert bins[0]["calls"] == 1 and bins[-1] == {
        "bucket_start_secs": 115, "bucket_end_secs": 120, "calls": 1
    }  # fmt: skip
    assert any(b["calls"] == 0 for b in bins)  # empty bins between calls are kept
    wide = store.duration_histogram(CallFilters())  # 12 s to 50 min: wider bins
    assert sum(b["calls"] for b in wide) == len(durations) + 1
    assert wide[0]["bucket_end_secs"] - wide[0]["bucket_start_secs"] == 300
    assert store.duration_histogram(CallFilters(load_number="none")) == []


def test_pipecat_metrics_list_items_and_aggregate_pipecat_calls_only(store: Store) -> None:
    sample = add_sample_calls(store)
    metrics = store.pipecat_metrics(CallFilters(), page_size=1)
    assert metrics.total == 2 and (metrics.page, metrics.page_size) == (1, 1)
    [item] = metrics.items
    assert (item.provider_call_id, item.driver_id, item.load_number) == ("p2", sample.carl, "L-600")
    assert item.id == sample.calls["p2"]
    assert item.created_at == T0 + timedelta(minutes=30)
    assert (item.duration_secs, item.interruptions_est, item.tokens_estimated) == (130.0, 1, 260)
    assert item.keyword_hits == {"traffic": 3}
    second = store.pipecat_metrics(CallFilters(), page=2, page_size=1)
    assert [i.provider_call_id for i in second.items] == ["p1"]
    aggregates = metrics.aggregates
    assert (aggregates.total_calls, aggregates.ended_calls, aggregates.total_tokens) == (2, 2, 410)
    assert aggregates.avg_duration_secs == pytest.approx(100)
    assert aggregates.avg_sentiment == pytest.approx(0.2)
    assert aggregates.avg_interruptions == pytest.approx(1.5)
    assert aggregates.by_outcome == {"Arrival Confirmation": 1, "In-Transit Update": 1}
    assert aggregates.by_driver_status == {"Arrived": 1, "Delayed": 1}
    assert aggregates.keyword_totals == {"lumper": 1, "traffic": 4}
    assert aggregates.duration_histogram == [
        {"bucket_start_secs": 60, "bucket_end_secs": 120, "calls": 1},
        {"bucket_start_secs": 120, "bucket_end_secs": 180, "calls": 1},
    ]
    assert aggregates.avg_latency_ms is None
    alice = store.pipecat_metrics(CallFilters(driver_id=sample.alice))
    assert [i.provider_call_id for i in alice.items] == ["p1"] and alice.aggregates.delays == 0


def test_metrics_keep_zero_keyword_counts_and_skip_non_numeric_latency(store: Store) -> None:
    store.upsert_call(
        Provider.RETELL,
        "c1",
        CallUpdate(keyword_hits={"traffic": 2, "tire": 0}, latency={"e2e_p50_ms": 900}),
    )
    store.upsert_call(
        Provider.RETELL,
        "c2",
        CallUpdate(keyword_hits={"traffic": 0, "fuel": 0}, latency={"e2e_p50_ms": "unknown"}),
    )
    metrics = store.retell_metrics(CallFilters())
    assert metrics.keyword_totals == {"fuel": 0, "tire": 0, "traffic": 2}
    assert metrics.avg_latency_ms == pytest.approx(900)
    store.upsert_call(
        Provider.RETELL, "c1", CallUpdate(keyword_hits={"traffic": 5}, latency={"e2e_p50_ms": 700})
    )
    metrics = store.retell_metrics(CallFilters())
    assert metrics.keyword_totals == {"fuel": 0, "traffic": 5}
    assert metrics.avg_latency_ms == pytest.approx(700)


@pytest.mark.parametrize("field", ["duration_secs", "interruptions_est", "tokens_estimated"])
def test_a_negative_count_or_duration_is_refused_by_the_model_and_by_every_database(
    store: Store, field: str
) -> None:
    with pytest.raises(ValueError):
        CallUpdate(**{field: -1})
    # Past the model (a constructed update), the database's own check still refuses it.
    with pytest.raises(WriteFailed):
        store.upsert_call(Provider.RETELL, "call-neg", CallUpdate.model_construct(**{field: -1}))
    with pytest.raises(WriteFailed):
        store.bulk_insert_calls(
            [(Provider.RETELL, "call-neg", CallUpdate.model_construct(**{field: -1}))]
        )
    assert store.get_call("call-neg") is None
    store.upsert_call(Provider.RETELL, "call-zero", CallUpdate(**{field: 0}))
    with pytest.raises(WriteFailed):
        store.upsert_call(Provider.RETELL, "call-zero", CallUpdate.model_construct(**{field: -1}))
    assert getattr(store.get_call("call-zero"), field) == 0


def test_latency_trend_gives_each_day_and_engine_the_calls_p50_and_p90(store: Store) -> None:
    day1, day2 = T0, T0 + timedelta(days=1)
    calls = [
        (Provider.RETELL, "r1", day1, {"e2e_p50_ms": 800, "e2e_p90_ms": 1200}),
        (Provider.RETELL, "r2", day1, {"e2e_p50_ms": 1000, "e2e_p90_ms": 1600}),
        (Provider.PIPECAT, "p1", day1, {"e2e_p50_ms": 600, "e2e_p90_ms": 900, "turns": []}),
        (Provider.PIPECAT, "p2", day2, {"e2e_p50_ms": 700}),  # no p90 reported
        (Provider.PIPECAT, "p3", day2, {"e2e_p50_ms": "n/a"}),  # not a number: left out
        (Provider.RETELL, "r3", day2, None),  # no latency at all: left out
    ]
    for provider, call_id, at, latency in calls:
        store.upsert_call(provider, call_id, CallUpdate(created_at=at, latency=latency))

    trend = store.latency_trend(CallFilters())

    assert [(d.day, d.provider, d.calls, d.e2e_p50_ms, d.e2e_p90_ms) for d in trend] == [
        (day1.date().isoformat(), Provider.PIPECAT, 1, 600.0, 900.0),
        (day1.date().isoformat(), Provider.RETELL, 2, 900.0, 1400.0),
        (day2.date().isoformat(), Provider.PIPECAT, 1, 700.0, None),
    ]
    only_retell = store.latency_trend(CallFilters(provider=Provider.RETELL))
    assert [d.provider for d in only_retell] == [Provider.RETELL]
    assert store.latency_trend(CallFilters(created_from=day2)) == trend[2:]


def test_null_members_of_a_json_column_are_not_kept_on_any_backend(store: Store) -> None:
    structured = {"call_outcome": "In-Transit Update", "eta": None, "nested": {"a": None, "b": 1}}

    saved = store.upsert_call(Provider.PIPECAT, "call-nulls", CallUpdate(structured=structured))
    store.bulk_insert_calls([(Provider.RETELL, "bulk-nulls", CallUpdate(structured=structured))])

    expected = {"call_outcome": "In-Transit Update", "nested": {"b": 1}}
    assert saved.structured == expected
    assert store.get_call("bulk-nulls").structured == expected
