"""`python -m scheduler`: the scheduler process (the `scheduler:` line of the Procfile).

On PostgreSQL/Supabase run as many as you like. On SQLite one scheduler runs per database file:
it holds `<database>.scheduler.lock`, and a second one waits until that lock is free.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from db import StoreError, open_store
from scheduler.dialers import Dialer, SimulatedDialer, VoiceServerDialer
from scheduler.runner import Scheduler
from scheduler.tms_webhook import TmsWebhookSender
from settings import ConfigError, Settings, load_settings

log = logging.getLogger("scheduler")


def hold_sqlite_lock(database: Path) -> IO[bytes]:
    """Block until this process is the only scheduler of the SQLite file."""
    path = database.with_name(database.name + ".scheduler.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.open("wb")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("another scheduler holds %s; waiting for it", path)
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def build_scheduler(settings: Settings) -> Scheduler:
    store = open_store(settings)
    dialers: dict[str, Dialer] = {
        "retell": VoiceServerDialer(settings, "retell"),
        "pipecat": VoiceServerDialer(settings, "pipecat"),
        "simulated": SimulatedDialer(settings, store),
    }
    webhooks = None
    if settings.tms_webhook_url and settings.tms_webhook_secret:
        webhooks = TmsWebhookSender(
            store, settings.tms_webhook_url, settings.tms_webhook_secret.get_secret_value()
        )
    late = settings.scheduler_skip_late_minutes
    return Scheduler(
        store,
        defaults=settings.default_call_plan(),
        dialers=dialers,
        caps=settings.engine_concurrency(),
        clock=lambda: datetime.now(UTC),
        skip_late_after=timedelta(minutes=late) if late else None,
        result_timeout=timedelta(minutes=settings.scheduler_result_timeout_minutes),
        emergency_followup=timedelta(minutes=settings.scheduler_emergency_followup_minutes),
        webhooks=webhooks,
        lease_secs=settings.scheduler_lease_secs,
    )


async def serve(settings: Settings, tick_secs: float) -> None:
    scheduler = build_scheduler(settings)
    try:
        await asyncio.to_thread(scheduler.store.migrate)
    except StoreError as exc:
        log.error("database not ready at start (will retry each tick): %s", exc)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("scheduler %s running on %s", scheduler.owner, settings.database_backend)
    try:
        await scheduler.run_forever(stop, tick_secs)
    finally:
        await scheduler.aclose()
        scheduler.store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scheduler", description=__doc__)
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between ticks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    lock = hold_sqlite_lock(settings.sqlite_path) if settings.database_backend == "sqlite" else None
    try:
        asyncio.run(serve(settings, args.tick))
    finally:
        if lock is not None:
            lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
