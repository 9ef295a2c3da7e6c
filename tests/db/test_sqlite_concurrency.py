"""SQLite shared by several processes (voice server, Streamlit, CLI) at the same time."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

from db.models import CallFilters, CallStatus, CallUpdate, Event, Provider
from db.sqlite_store import SqliteStore

CALLS_PER_WRITER = 150
SHARED_EVENT_KEYS = 100


def _writer(path: str, name: str, start: multiprocessing.synchronize.Event, out) -> None:
    """Writes its own calls, grows one shared call, and races the other writer on events."""
    store = SqliteStore(path)
    start.wait()
    new_events = 0
    for n in range(CALLS_PER_WRITER):
        store.upsert_call(Provider.RETELL, f"{name}-{n}", CallUpdate(status=CallStatus.ONGOING))
        store.upsert_call(
            Provider.RETELL,
            f"{name}-{n}",
            CallUpdate(status=CallStatus.ENDED, duration_secs=float(n), load_number=name),
        )
        transcript = [{"role": "user", "content": f"{name} turn {i}"} for i in range(n % 40 + 1)]
        store.save_transcript(Provider.PIPECAT, "shared", transcript)
        if n < SHARED_EVENT_KEYS:
            event = Event(
                provider=Provider.RETELL,
                provider_call_id="shared",
                event_type="call_ended",
                idempotency_key=f"shared-{n}",
                payload={"writer": name},
            )
            new_events += store.record_event(event)
    store.close()
    out.put(new_events)


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    SqliteStore(path).migrate()
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    writers = [context.Process(target=_writer, args=(path, n, start, out)) for n in ("a", "b")]
    for writer in writers:
        writer.start()
    start.set()
    new_events = [out.get(timeout=240), out.get(timeout=240)]
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0

    store = SqliteStore(path)
    for name in ("a", "b"):
        calls = store.search_calls(CallFilters(load_number=name, status=CallStatus.ENDED))
        assert calls.total == CALLS_PER_WRITER
    assert sum(new_events) == SHARED_EVENT_KEYS  # each key recorded by exactly one writer
    assert len(store.get_call("shared", Provider.PIPECAT).transcript) == 40
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM call_events").fetchone()[0] == SHARED_EVENT_KEYS
    store.close()


def test_a_reader_keeps_reading_while_another_process_writes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    store = SqliteStore(path)
    store.migrate()
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    writer = context.Process(target=_writer, args=(path, "w", start, out))
    writer.start()
    start.set()
    totals: list[int] = []
    errors: list[BaseException] = []

    def read_like_streamlit() -> None:  # its own thread, as a Streamlit script run is
        try:
            while writer.is_alive():
                totals.append(store.search_calls(CallFilters(provider=Provider.RETELL)).total)
                store.retell_metrics(CallFilters())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    reader = threading.Thread(target=read_like_streamlit)
    reader.start()
    out.get(timeout=240)
    writer.join(timeout=60)
    reader.join(timeout=60)
    assert errors == []
    assert totals == sorted(totals) and len(totals) > 1  # never an error, never a step back
    assert store.search_calls(CallFilters(provider=Provider.RETELL)).total == CALLS_PER_WRITER
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
