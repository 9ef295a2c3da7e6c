"""Scheduler processes on the real PostgreSQL: two never place one slot twice, and one killed
mid-run places nothing twice after a restart (counted at the engine double and in the database)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from bench.engine_double import EngineDouble
from bench.processes import stop
from bench.scheduler_bench import ONE_SLOT_PLAN  # each load has one slot: before delivery
from db.postgres_store import PostgresStore
from tests.conftest import ROOT
from tests.scheduler.conftest import a_load

API_KEY = "scheduler-test-key"


@pytest.fixture
def database(postgres_database: Callable[[], str]) -> Iterator[str]:
    url = postgres_database()
    store = PostgresStore(url)
    store.migrate()
    # Due a few seconds from now, so every scheduler started by a test is up when they fall due.
    now = datetime.now(UTC) + timedelta(seconds=DUE_IN_SECS)
    store.upsert_loads(
        [
            a_load(
                f"P-{n:04d}",
                pickup_at=now - timedelta(hours=10),
                delivery_at=now + timedelta(minutes=60),
                plan=ONE_SLOT_PLAN,
            )
            for n in range(LOADS)
        ]
    )
    store.close()
    yield url


LOADS = 150
DUE_IN_SECS = 6


def start_scheduler(
    url: str, engine_url: str, tmp_path: Path, name: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DISPATCH_API_KEY": API_KEY,
        "VOICE_SERVER_URL": engine_url,
        "SCHEDULER_CONCURRENCY": "retell=100000",
        "SCHEDULER_LEASE_SECS": "1",
        "SCHEDULER_SKIP_LATE_MINUTES": "0",
    }
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--tick", "0.05"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def attempts_per_slot(url: str) -> dict[int, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select slot_id, count(*) from call_attempts group by slot_id")
        return dict(rows.fetchall())


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def test_two_schedulers_never_place_the_same_slot_twice(database: str, tmp_path: Path) -> None:
    engine = EngineDouble(API_KEY, delay_secs=0.2).start()
    processes = [start_scheduler(database, engine.url, tmp_path, f"s{n}") for n in range(2)]
    try:
        wait_until(lambda: engine.total() >= LOADS)
        time.sleep(1.0)  # room for a duplicate to show up
    finally:
        stop(*processes, timeout=20)
        engine.stop()
    assert engine.total() == LOADS and engine.duplicates() == 0
    per_slot = attempts_per_slot(database)
    assert len(per_slot) == LOADS and set(per_slot.values()) == {1}
    with psycopg.connect(database) as conn:
        owners = conn.execute("select count(distinct claimed_by) from call_attempts").fetchone()
    assert owners is not None and owners[0] == 2  # both took part


def test_a_scheduler_killed_mid_run_places_nothing_twice_after_restart(
    database: str, tmp_path: Path
) -> None:
    engine = EngineDouble(API_KEY, delay_secs=0.5).start()
    first = start_scheduler(database, engine.url, tmp_path, "first")
    try:
        wait_until(lambda: engine.total() >= 20)
        first.send_signal(signal.SIGKILL)  # mid-placement: starts in flight, claims unfinished
        first.wait(timeout=10)
        received_before_restart = engine.total()
        second = start_scheduler(database, engine.url, tmp_path, "second")
        try:
            wait_until(
                lambda: (
                    all(count == 1 for count in attempts_per_slot(database).values())
                    and len(attempts_per_slot(database)) == LOADS
                )
            )

            def settled_interrupted() -> bool:
                with psycopg.connect(database) as conn:
                    left = conn.execute(
                        "select count(*) from call_attempts where state = 'placing'"
                    ).fetchone()
                return left is not None and left[0] == 0

            wait_until(settled_interrupted)
            time.sleep(1.0)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=20)
    finally:
        engine.stop()
    assert received_before_restart < LOADS  # it really was killed mid-run
    assert engine.duplicates() == 0
    per_slot = attempts_per_slot(database)
    assert len(per_slot) == LOADS and set(per_slot.values()) == {1}
    with psycopg.connect(database) as conn:
        interrupted = conn.execute(
            "select count(*) from call_attempts where outcome = 'interrupted'"
        ).fetchone()
        retry = conn.execute(
            "select min(next_attempt_at) from call_slots where last_outcome = 'interrupted'"
        ).fetchone()
    # The attempts it was placing are settled as interrupted, retried only after the result
    # timeout (they may have rung), never placed again at once.
    assert interrupted is not None and interrupted[0] > 0
    assert retry is not None and retry[0] > datetime.now(UTC) + timedelta(minutes=60)
