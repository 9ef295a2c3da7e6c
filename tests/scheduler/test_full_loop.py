"""The whole loop with the simulated engine: a CSV of loads, the scheduler placing their calls
(a scripted driver talks to the real agent over the voice server's Retell socket; another never
picks up and is retried), results on the dispatch board, and the TMS webhook receiving them."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from db import open_store
from db.demo_scripts import DriverScript, make_script
from db.load_models import BoardFilters, ClaimedAttempt
from scheduler.dialers import SimulatedDialer
from scheduler.runner import Scheduler
from scheduler.tms_webhook import TmsWebhookSender
from settings import load_settings
from tests.scheduler.conftest import SteppedClock
from tests.scheduler.tms_receiver import TmsReceiver
from tests.voice_server.conftest import API_KEY, RunningServer
from ui.load_import import parse_loads_csv
from voice_server.main import create_app

SECRET = "tms-secret"
CSV = "\n".join(
    [
        "load_number,driver_name,driver_phone,origin,destination,"
        "pickup_at,pickup_tz,delivery_at,delivery_tz",
        'LD-1,Maria Lopez,+13125550147,"Dallas, TX","Denver, CO",'
        "2026-03-06 08:00,America/Chicago,2026-03-07 11:00,America/Denver",
        'LD-2,Sam Ortiz,+13125550148,"Tulsa, OK","Memphis, TN",'
        "2026-03-06 08:00,America/Chicago,2026-03-07 11:00,America/Chicago",
    ]
)


def scripted(claimed: ClaimedAttempt) -> DriverScript:
    kind = "driving" if claimed.load.load_number == "LD-1" else "no_answer"
    return make_script(kind, random.Random(7))


def test_csv_to_scheduled_calls_to_the_board_and_the_tms(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'loop.db'}",
        dispatch_api_key=API_KEY,
        outbox_path=str(tmp_path / "outbox.jsonl"),
        call_plan_quiet_hours="00:00-00:00",
        call_plan_engine="simulated",
        call_plan_max_attempts=2,
    )
    server = RunningServer(create_app(settings)).start()
    settings = settings.model_copy(update={"voice_server_url": server.url})
    store = open_store(settings)
    store.migrate()
    # 14:00 UTC pickup; the first in-transit call is due 4 hours later.
    clock = SteppedClock(datetime(2026, 3, 6, 17, 59, tzinfo=UTC))
    receiver = TmsReceiver(SECRET, clock).start()
    try:
        imported = parse_loads_csv(CSV.encode())
        assert imported.ok, imported.problems
        store.upsert_loads(imported.loads)

        async def run() -> None:
            dialer = SimulatedDialer(settings, store, driver=scripted)
            scheduler = Scheduler(
                store,
                defaults=settings.default_call_plan(),
                dialers={"simulated": dialer},
                caps=settings.engine_concurrency(),
                clock=clock,
                skip_late_after=timedelta(minutes=30),
                result_timeout=timedelta(hours=2),
                emergency_followup=timedelta(minutes=30),
                webhooks=TmsWebhookSender(store, receiver.url, SECRET),
            )
            try:
                report = await scheduler.run_once()
                assert report.planned == 2 and report.placed == 0
                clock.advance(minutes=1)
                report = await scheduler.run_once()
                assert report.placed == 2
                await dialer.aclose()  # the scripted conversation has run to its end
                for _ in range(100):  # the voice server finalizes the call as the socket closes
                    report = await scheduler.run_once()
                    if len(receiver.accepted) >= 2:
                        break
                    await asyncio.sleep(0.05)
                clock.advance(minutes=10)  # LD-2's retry is due
                await scheduler.run_once()
                await scheduler.run_once()
            finally:
                await scheduler.aclose()

        asyncio.run(run())

        board = {row.load.load_number: row for row in store.dispatch_board(BoardFilters())}
        talked = board["LD-1"]
        assert talked.last_structured is not None
        assert talked.last_structured["call_outcome"] == "In-Transit Update"
        assert talked.last_structured["current_location"]
        assert talked.next_due_at is not None and talked.next_due_at > clock()
        assert [a.outcome for a in store.load_attempts("LD-1")] == ["completed"]

        silent = board["LD-2"]
        assert [a.outcome for a in store.load_attempts("LD-2")] == ["no_answer", "no_answer"]
        assert silent.load.unreachable_at is not None and silent.attempts == 2

        by_call = {body.call_id: body for body in receiver.accepted}
        assert len(by_call) == 3 and receiver.refused_signatures == 0
        ld1 = [b for b in by_call.values() if b.load_number == "LD-1"]
        assert len(ld1) == 1 and ld1[0].structured == talked.last_structured
        ld2 = [b for b in by_call.values() if b.load_number == "LD-2"]
        assert {b.disconnection_reason for b in ld2} == {"dial_no_answer"}
    finally:
        receiver.stop()
        store.close()
        server.stop()
