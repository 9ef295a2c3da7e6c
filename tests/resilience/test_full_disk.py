"""The outbox on a full disk: what was acknowledged is durable and readable back, always.

The outbox lives on a 64 KiB filesystem of its own (a tmpfs mount, which needs root; skipped
with the reason where the machine does not allow it) while the database is locked, so every
write goes to the outbox until the disk is full.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from db import WriteFailed
from db.models import CallStatus, CallUpdate, Event, Provider
from db.outbox import OutboxStore
from db.sqlite_store import SqliteStore
from tests.resilience.conftest import read_call, server_env, sqlite_write_locked
from tests.resilience.traffic import count_rows, post_webhook, webhook_body

TINY_FS_BYTES = 64 * 1024


@pytest.fixture
def tiny_filesystem() -> Iterator[Path]:
    """A fresh 64 KiB tmpfs, unmounted afterwards."""
    mount_point = Path(tempfile.mkdtemp(prefix="outbox_tiny_fs_", dir="/tmp"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TINY_FS_BYTES}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a tiny tmpfs here: {mounted.stderr.strip() or 'not root'}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
        mount_point.rmdir()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "full-disk.db"
    SqliteStore(path).migrate()
    return path


def event(key: str, padding: int = 1500) -> Event:
    return Event(
        provider=Provider.RETELL,
        provider_call_id=f"call_{key}",
        event_type="call_ended",
        idempotency_key=key,
        payload={"note": "x" * padding},
    )


def events_in(database: Path) -> set[str]:
    store = SqliteStore(database)
    try:
        with store._connection() as conn:  # noqa: SLF001 (a direct look at the table)
            return {row[0] for row in conn.execute("SELECT idempotency_key FROM call_events")}
    finally:
        store.close()


def every_line_parses(path: Path) -> bool:
    lines = path.read_bytes().split(b"\n")
    return lines[-1] == b"" and all(json.loads(line)["op"] for line in lines[:-1])


def test_a_full_disk_never_loses_or_garbles_an_acknowledged_write(database, tiny_filesystem):
    outbox = tiny_filesystem / "outbox.jsonl"
    filler = tiny_filesystem / "filler"
    filler.write_bytes(b"f" * 12 * 1024)  # space to free later
    acknowledged: list[str] = []
    refused = 0
    with sqlite_write_locked(database):
        store = OutboxStore(SqliteStore(database, busy_timeout_secs=0.1), outbox)
        for n in range(80):  # the disk fills up part-way, the later writes are refused
            try:
                store.record_event(event(f"k{n}"))
                acknowledged.append(f"k{n}")
            except WriteFailed:
                refused += 1
            assert every_line_parses(outbox)  # never a torn line left behind
        assert refused > 0 and acknowledged
        filler.unlink()  # space comes back: the next writes are taken, on clean lines
        for n in range(80, 85):
            store.record_event(event(f"k{n}"))
            acknowledged.append(f"k{n}")
        assert every_line_parses(outbox)
        store.close()  # the process dies before the database is back
        restarted = OutboxStore(SqliteStore(database, busy_timeout_secs=0.1), outbox)
        assert restarted.depth == len(acknowledged)
    assert restarted.drain() == len(acknowledged)
    assert events_in(database) == set(acknowledged)


def test_a_torn_line_an_older_version_let_a_write_run_into_loses_only_itself(database, tmp_path):
    outbox = tmp_path / "outbox.jsonl"
    whole = {"op": "record_event", "args": {"event": event("kept", 10).model_dump(mode="json")}}
    torn = json.dumps({"op": "record_event", "args": {"event": event("torn", 10).model_dump()}})
    outbox.write_text(torn[:70] + json.dumps(whole) + "\n" + json.dumps(whole) + "x\n")
    store = OutboxStore(SqliteStore(database), outbox)
    assert store.depth == 2  # the whole entry after the torn one, and the one before junk
    assert store.drain() == 2
    assert events_in(database) == {"kept"}


def test_a_crash_mid_append_is_cut_away_before_the_next_write(database, tmp_path):
    outbox = tmp_path / "outbox.jsonl"
    whole = {"op": "record_event", "args": {"event": event("k1", 10).model_dump(mode="json")}}
    outbox.write_text(json.dumps(whole) + '\n{"op": "record_event", "args": {"ev')
    with sqlite_write_locked(database):
        store = OutboxStore(SqliteStore(database, busy_timeout_secs=0.1), outbox)
        store.record_event(event("k2", 10))
        assert every_line_parses(outbox)
    assert store.drain() == 2
    assert events_in(database) == {"k1", "k2"}


def test_a_call_and_the_driver_created_for_it_are_replayed_as_one_unit(database, tmp_path):
    outbox = tmp_path / "outbox.jsonl"
    with sqlite_write_locked(database):
        store = OutboxStore(SqliteStore(database, busy_timeout_secs=0.1), outbox)
        driver_id = store.ensure_driver("Ana Ruiz", "+14155550123")
        store.upsert_call(Provider.RETELL, "c1", CallUpdate(driver_id=driver_id))
        store.close()
    # Even with the driver's own line gone, the call's line brings its driver along.
    lines = outbox.read_text().splitlines()
    assert [json.loads(line)["op"] for line in lines] == ["ensure_driver", "upsert_call"]
    outbox.write_text(lines[1] + "\n")
    restarted = OutboxStore(SqliteStore(database), outbox)
    assert restarted.drain() == 1 and restarted.rejected == 0
    call = restarted.get_call("c1", Provider.RETELL)
    assert call is not None and call.driver_name == "Ana Ruiz" and call.driver_id > 0


async def test_every_webhook_answered_200_on_a_full_disk_survives_kill_9(
    spawn_server: Callable[..., object], tiny_filesystem: Path, tmp_path: Path
) -> None:
    database = tmp_path / "server.db"
    SqliteStore(database).migrate()
    url = f"sqlite:///{database}"
    env = server_env(url, tiny_filesystem / "outbox.jsonl")
    server = spawn_server(env)
    filler = tiny_filesystem / "filler"
    filler.write_bytes(b"f" * 12 * 1024)  # space that comes back once the disk was full
    acknowledged: list[str] = []
    statuses: list[int] = []
    with sqlite_write_locked(database):
        for n in range(60):
            body = webhook_body(f"call_full_{n:02d}").replace("Ana Ruiz", f"Driver {n:02d}")
            body = body.replace("+14155550188", f"+141555501{n:02d}")  # one driver each
            body = body.replace('"agent_id": "agent_1"', f'"agent_id": "{"a" * 900}"')
            answer = await asyncio.to_thread(post_webhook, server.url, body)
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                acknowledged.append(f"call_full_{n:02d}")
            elif filler.exists():
                filler.unlink()
        server.kill()
    assert 503 in statuses and acknowledged, statuses  # the disk did fill up
    assert set(statuses) == {200, 503}
    restarted = spawn_server(env)
    for call_id in acknowledged:
        call = await wait_for_row(url, call_id)
        assert call.status == CallStatus.ENDED
        assert call.driver_name == f"Driver {call_id[-2:]}"
        assert count_rows(url, "call_events", call_id) == 1
    assert "refused a queued" not in restarted.output()


async def wait_for_row(database_url: str, call_id: str, timeout: float = 30) -> object:
    for _ in range(int(timeout * 10)):
        call = await asyncio.to_thread(read_call, database_url, call_id)
        if call is not None and call.driver_name:
            return call
        await asyncio.sleep(0.1)
    raise AssertionError(f"{call_id} never landed")
