"""Scheduler throughput on PostgreSQL: 10,000 loads whose check calls fall due at one instant,
placed by 1 and then 4 scheduler processes (`python -m scheduler`) against a local double of the
voice server's call-start route. Prints slots placed per second, duplicates (must be 0: counted
at the double and in the database) and the lag from a slot's due time to its placement (p50/p99);
the single process is the baseline measured in the same run.

    python -m bench.scheduler_bench [--loads 10000] [--processes 1,4] [--engine-ms 20]

Needs a PostgreSQL server (TEST_POSTGRES_URL, an admin connection; `make test` starts one).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from bench.engine_double import EngineDouble
from bench.processes import stop
from db.load_models import CallPlan, LoadIn
from db.postgres_store import PostgresStore
from scheduler.runner import Scheduler
from settings import ROOT

API_KEY = "bench-dispatch-key"
ONE_SLOT_PLAN = {  # one slot per load: the before-delivery call
    "every_hours": 0,
    "after_delivery_minutes": 0,
    "before_delivery_minutes": 60,
    "quiet_start": "00:00",
    "quiet_end": "00:00",
    "engine": "retell",
}
DUE_IN_SECS = 8.0  # processes start and connect before the slots fall due


def fresh_database(admin_url: str) -> str:
    name = f"scheduler_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def seed(url: str, loads: int, due_at: datetime) -> None:
    """Loads, and their slots already planned (planning is not what is measured)."""
    store = PostgresStore(url)
    store.migrate()
    rows = [
        LoadIn(
            load_number=f"B-{n:06d}",
            driver_name=f"Driver {n}",
            driver_phone="+13125550147",
            origin="Dallas, TX",
            destination="Denver, CO",
            pickup_at=due_at - timedelta(hours=20),
            pickup_tz="America/Chicago",
            delivery_at=due_at + timedelta(minutes=60),
            delivery_tz="America/Denver",
            plan=ONE_SLOT_PLAN,
        )
        for n in range(loads)
    ]
    for start in range(0, loads, 2000):
        store.upsert_loads(rows[start : start + 2000])
    planner = Scheduler(
        store,
        defaults=CallPlan(),
        dialers={},
        caps={},
        clock=lambda: datetime.now(UTC),
        skip_late_after=None,
        result_timeout=timedelta(hours=2),
        emergency_followup=timedelta(minutes=30),
    )
    planner.plan_changed_loads(datetime.now(UTC))
    store.close()


def run(admin_url: str, loads: int, processes: int, engine_ms: float) -> dict[str, float]:
    url = fresh_database(admin_url)
    engine = EngineDouble(API_KEY, delay_secs=engine_ms / 1000).start()
    started: list[subprocess.Popen[bytes]] = []
    try:
        due_at = (datetime.now(UTC) + timedelta(seconds=DUE_IN_SECS)).replace(microsecond=0)
        seed(url, loads, due_at)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DISPATCH_API_KEY": API_KEY,
            "VOICE_SERVER_URL": engine.url,
            "SCHEDULER_CONCURRENCY": f"retell={loads * 2}",
            "SCHEDULER_SKIP_LATE_MINUTES": "0",
            "DISPATCH_ENV_FILE": "",
        }
        for _ in range(processes):
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "scheduler", "--tick", "0.2"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + DUE_IN_SECS + 600
        while engine.total() < loads and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # room for a late duplicate to arrive
    finally:
        stop(*started, timeout=30)
        engine.stop()
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*) filter (where n > 1), coalesce(sum(n), 0) from "
            "(select slot_id, count(*) n from call_attempts group by slot_id) per_slot"
        ).fetchone()
    drop_database(admin_url, url)
    assert row is not None
    due = due_at.timestamp()
    lags = sorted(max(0.0, at - due) for at in engine.received_at.values())
    placed = len(lags)
    span = max(lags[-1], 1e-9) if lags else float("nan")
    return {
        "placed": placed,
        "slots_per_sec": placed / span,
        "duplicates_engine": engine.duplicates(),
        "duplicates_db": row[0],
        "lag_p50": lags[len(lags) // 2] if lags else float("nan"),
        "lag_p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=10_000)
    parser.add_argument("--processes", default="1,4")
    parser.add_argument("--engine-ms", type=float, default=20.0, help="the double's answer delay")
    args = parser.parse_args()
    admin_url = os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://dispatch:dispatch@127.0.0.1:5432/postgres"
    )
    counts = [int(p) for p in args.processes.split(",")]
    results = {n: run(admin_url, args.loads, n, args.engine_ms) for n in counts}
    baseline = results[counts[0]]
    print(f"{args.loads} loads due at one instant; engine double answers in {args.engine_ms:g} ms")
    print(
        f"{'processes':>9} {'placed':>7} {'slots/s':>8} {'x base':>7} {'dup engine':>10} "
        f"{'dup db':>6} {'lag p50 s':>9} {'lag p99 s':>9}"
    )
    for n, r in results.items():
        print(
            f"{n:>9} {r['placed']:>7} {r['slots_per_sec']:>8.0f} "
            f"{r['slots_per_sec'] / baseline['slots_per_sec']:>7.2f} "
            f"{r['duplicates_engine']:>10} {r['duplicates_db']:>6} "
            f"{r['lag_p50']:>9.2f} {r['lag_p99']:>9.2f}"
        )
    if any(r["duplicates_engine"] or r["duplicates_db"] for r in results.values()):
        sys.exit("duplicates found")


if __name__ == "__main__":
    main()
