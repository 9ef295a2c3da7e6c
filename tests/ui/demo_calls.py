"""A few calls the browser tests know by id, beside the generated demo data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db import Store
from db.models import CallStatus, CallUpdate, Provider

EMERGENCY_CALL_ID = "known-emergency-1"


def add_known_calls(store: Store) -> None:
    now = datetime.now(UTC)
    driver = store.ensure_driver("Carla Mendes", "+15025550142")
    store.upsert_call(
        Provider.PIPECAT,
        EMERGENCY_CALL_ID,
        CallUpdate(
            driver_id=driver,
            load_number="EMG-1001",
            origin="Dallas, TX",
            destination="Atlanta, GA",
            status=CallStatus.ENDED,
            call_type="webrtc",
            created_at=now - timedelta(minutes=20),
            duration_secs=74,
            interruptions_est=1,
            keyword_hits={"tire": 1, "breakdown": 1},
            sentiment=-0.3,
            transcript=[
                {"role": "agent", "content": "Hi Carla, this is dispatch about load EMG-1001."},
                {"role": "user", "content": "I had to pull over, my trailer tire blew out."},
                {"role": "agent", "content": "Are you and everyone else safe?"},
                {"role": "user", "content": "Yes, nobody is hurt. I'm on I-20 at exit 42."},
            ],
            structured={
                "call_outcome": "Emergency Escalation",
                "emergency_type": "Breakdown",
                "safety_status": "Driver safe",
                "injury_status": "No injuries",
                "emergency_location": "I-20 exit 42",
                "load_secure": True,
                "escalation_status": "Transfer Requested",
            },
        ),
    )
