"""The outbox: writes the database cannot take wait on disk and land, once, in order."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from db import WriteFailed
from db.models import CallFilters, CallStatus, CallUpdate, Event, Provider
from db.outbox import OutboxStore
from db.sqlite_store import SqliteStore
from tests.resilience.conftest import sqlite_write_locked


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "outbox-test.db"
    SqliteStore(path).migrate()
    return path


def open_outbox(database: Path, outbox: Path) -> OutboxStore:
    return OutboxStore(SqliteStore(database, busy_timeout_secs=0.2), outbox)


def event(key: str, call_id: str = "c1") -> Event:
    return Event(
        provider=Provider.RETELL,
        provider_call_id=call_id,
        event_type="call_ended",
        idempotency_key=key,
        payload={"k": key},
    )


def events_in(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT idempotency_key FROM call_events")]


def test_writes_go_straight_through_while_the_database_is_up(database, tmp_path):
    store = open_outbox(database, tmp_path / "outbox.jsonl")
    store.upsert_call(Provider.RETELL, "c1", CallUpdate(load_number="LD-1"))
    assert store.depth == 0
    assert not (tmp_path / "outbox.jsonl").exists()
    assert store.get_call("c1").load_number == "LD-1"


def test_writes_during_a_lock_wait_on_disk_and_land_in_order_afterwards(database, tmp_path):
    store = open_outbox(database, tmp_path / "outbox.jsonl")
    with sqlite_write_locked(database):
        driver_id = store.ensure_driver("Ana Ruiz", "+14155550123")
        call = store.upsert_call(
            Provider.RETELL, "c1", CallUpdate(driver_id=driver_id, status=CallStatus.ONGOING)
        )
        store.save_transcript(Provider.RETELL, "c1", [{"role": "user", "content": "hi"}])
        store.upsert_call(Provider.RETELL, "c1", CallUpdate(status=CallStatus.ENDED))
        assert store.record_event(event("k1")) is True
        assert driver_id < 0  # provisional until the database has the driver
        assert call.id == 0 and call.status == CallStatus.ONGOING
        assert store.depth == 5
        lines = (tmp_path / "outbox.jsonl").read_text().splitlines()
        assert [json.loads(line)["op"] for line in lines] == [
            "ensure_driver", "upsert_call", "save_transcript", "upsert_call", "record_event",
        ]  # fmt: skip
        assert store.get_call("c1") is None  # reads pass through to the (locked) database
        assert store.drain() == 0  # still locked: nothing lands, nothing is dropped
        assert store.depth == 5

    assert store.drain() == 5
    assert store.depth == 0 and not (tmp_path / "outbox.jsonl").exists()
    saved = store.get_call("c1", Provider.RETELL)
    assert saved.status == CallStatus.ENDED
    assert saved.driver_name == "Ana Ruiz" and saved.driver_id > 0
    assert saved.transcript == [{"role": "user", "content": "hi"}]
    assert events_in(database) == ["k1"]


def test_the_same_event_delivered_three_times_is_kept_once(database, tmp_path):
    store = open_outbox(database, tmp_path / "outbox.jsonl")
    with sqlite_write_locked(database):
        assert [store.record_event(event("k1")) for _ in range(3)] == [True, False, False]
    store.drain()
    assert store.record_event(event("k1")) is False  # and once landed, the database dedupes
    assert events_in(database) == ["k1"]


def test_a_restarted_process_replays_what_an_earlier_one_queued(database, tmp_path):
    outbox = tmp_path / "outbox.jsonl"
    with sqlite_write_locked(database):
        first = open_outbox(database, outbox)
        driver_id = first.ensure_driver("Bo Chen")
        first.upsert_call(Provider.PIPECAT, "p1", CallUpdate(driver_id=driver_id))
        first.record_event(event("k2", "p1"))
    first.close()  # the first process died before draining (its file lock goes with it)
    second = open_outbox(database, outbox)
    assert second.depth == 3
    assert second.record_event(event("k2", "p1")) is False  # dedupe survives the restart
    assert second.drain() == 3
    assert second.get_call("p1").driver_name == "Bo Chen"
    # Replaying the same file again (a crash before it was truncated) changes nothing.
    second.close()
    outbox.write_text("".join(json.dumps(e) + "\n" for e in _entries_for_replay(driver_id)))
    third = open_outbox(database, outbox)
    assert third.drain() == 3
    page = third.search_calls(CallFilters(provider=Provider.PIPECAT))
    assert page.total == 1 and page.items[0].driver_name == "Bo Chen"
    assert events_in(database) == ["k2"]


def _entries_for_replay(provisional: int) -> list[dict]:
    return [
        {"op": "ensure_driver", "args": {"name": "Bo Chen", "phone": None, "id": provisional}},
        {
            "op": "upsert_call",
            "args": {
                "provider": "pipecat",
                "provider_call_id": "p1",
                "update": {"driver_id": provisional},
            },
        },
        {"op": "record_event", "args": {"event": event("k2", "p1").model_dump(mode="json")}},
    ]


def test_a_torn_last_line_from_a_crash_is_skipped(database, tmp_path):
    outbox = tmp_path / "outbox.jsonl"
    good = {"op": "record_event", "args": {"event": event("k3").model_dump(mode="json")}}
    outbox.write_text(json.dumps(good) + '\n{"op": "upsert_ca')
    store = open_outbox(database, outbox)
    assert store.depth == 1
    assert store.drain() == 1
    assert events_in(database) == ["k3"]


def test_when_not_even_the_outbox_can_take_a_write_the_caller_is_told(database, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outbox's folder should be")
    store = open_outbox(database, blocked / "outbox.jsonl")
    with sqlite_write_locked(database), pytest.raises(WriteFailed, match="outbox"):
        store.record_event(event("k4"))
    assert store.depth == 0
    assert events_in(database) == []


def test_a_write_the_database_refuses_for_good_is_set_aside_not_retried_forever(database, tmp_path):
    outbox = tmp_path / "outbox.jsonl"
    store = open_outbox(database, outbox)
    with sqlite_write_locked(database):
        store.upsert_call(Provider.RETELL, "c9", CallUpdate(driver_id=424242))  # no such driver
        store.record_event(event("k5", "c9"))
    assert store.drain() == 2
    assert store.depth == 0 and store.rejected == 1
    assert "424242" in outbox.with_name("outbox.jsonl.rejected").read_text()
    assert events_in(database) == ["k5"]


def test_two_processes_given_one_outbox_path_each_get_their_own_file(database, tmp_path):
    configured = tmp_path / "outbox.jsonl"
    first, second = open_outbox(database, configured), open_outbox(database, configured)
    assert first.path == configured and second.path == tmp_path / "outbox.jsonl.1"
    with sqlite_write_locked(database):
        first.record_event(event("from-first"))
        second.record_event(event("from-second"))
    first.close()
    second.close()
    # Started again with fewer workers: one process takes over everything that waits.
    survivor = open_outbox(database, configured)
    assert survivor.depth == 2
    assert survivor.drain() == 2
    assert sorted(events_in(database)) == ["from-first", "from-second"]
    assert not (tmp_path / "outbox.jsonl.1").exists()


def test_a_live_process_keeps_its_own_queue(database, tmp_path):
    configured = tmp_path / "outbox.jsonl"
    first, second = open_outbox(database, configured), open_outbox(database, configured)
    with sqlite_write_locked(database):
        second.record_event(event("second-only"))
    first.close()
    restarted_first = open_outbox(database, configured)
    assert restarted_first.depth == 0  # second is running: its file is not adopted
    assert second.drain() == 1
    assert events_in(database) == ["second-only"]


def transcript(turns: int) -> list[dict[str, str]]:
    return [
        {"role": "agent" if n % 2 == 0 else "user", "content": f"turn {n}"} for n in range(turns)
    ]


def test_a_live_calls_transcript_flushes_during_an_outage_keep_one_entry_per_call(
    database, tmp_path
):
    outbox = tmp_path / "outbox.jsonl"
    store = open_outbox(database, outbox)
    with sqlite_write_locked(database):
        store.upsert_call(Provider.RETELL, "live", CallUpdate(status=CallStatus.ONGOING))
        for turns in range(1, 301):  # a live call flushing its growing transcript, all outage
            store.upsert_call(Provider.RETELL, "live", CallUpdate(transcript=transcript(turns)))
            store.save_transcript(Provider.RETELL, "other", transcript(turns))
        store.record_event(event("k-live", "live"))
        store.upsert_call(Provider.RETELL, "live", CallUpdate(transcript=transcript(302)))
        # The status write and the event stay, in order: only superseded transcripts go.
        assert store.depth == 5
        assert len(outbox.read_text().splitlines()) < 200  # compacted as it goes
    store.close()
    restarted = open_outbox(database, outbox)
    assert restarted.depth == 5
    assert restarted.drain() == 5
    live = restarted.get_call("live", Provider.RETELL)
    assert live.status == CallStatus.ONGOING and live.transcript == transcript(302)
    assert restarted.get_call("other", Provider.RETELL).transcript == transcript(300)
    assert events_in(database) == ["k-live"]


def test_a_transcript_is_not_replaced_by_a_shorter_one_or_across_another_write(database, tmp_path):
    store = open_outbox(database, tmp_path / "outbox.jsonl")
    with sqlite_write_locked(database):
        store.save_transcript(Provider.RETELL, "c1", transcript(4))
        store.save_transcript(Provider.RETELL, "c1", transcript(2))  # shorter: both stay
        store.upsert_call(Provider.RETELL, "c1", CallUpdate(load_number="LD-9"))
        store.save_transcript(Provider.RETELL, "c1", transcript(5))  # not across the upsert
        assert store.depth == 4
    assert store.drain() == 4
    saved = store.get_call("c1", Provider.RETELL)
    assert saved.transcript == transcript(5) and saved.load_number == "LD-9"


def test_a_write_the_database_does_not_take_in_time_waits_in_the_outbox(database, tmp_path):
    # SQLite would retry the lock for an hour; the first attempt's deadline queues the write.
    store = OutboxStore(
        SqliteStore(database, busy_timeout_secs=3600),
        tmp_path / "outbox.jsonl",
        first_attempt_secs=0.2,
    )
    with sqlite_write_locked(database):
        store.upsert_call(Provider.RETELL, "c1", CallUpdate(status=CallStatus.ENDED))
        assert store.record_event(event("k6")) is True
        assert store.record_event(event("k6")) is False
        assert store.depth == 2
    # The abandoned first attempt lands once the lock is gone; the replay after it is a no-op.
    assert store.drain() == 2
    assert store.get_call("c1", Provider.RETELL).status == CallStatus.ENDED
    assert events_in(database) == ["k6"]
    store.close()


def test_concurrent_writers_sharing_the_database_all_go_straight_through(database, tmp_path):
    store = OutboxStore(SqliteStore(database), tmp_path / "outbox.jsonl")

    def writer(n: int) -> None:
        for turns in range(1, 21):
            store.upsert_call(Provider.RETELL, f"w{n}", CallUpdate(transcript=transcript(turns)))
        store.record_event(event(f"done-{n}", f"w{n}"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))
    assert store.depth == 0
    assert sorted(events_in(database)) == sorted(f"done-{n}" for n in range(8))
    assert all(len(store.get_call(f"w{n}").transcript) == 20 for n in range(8))
