"""UI fixtures: a migrated tmp database (the autouse fixture points DATABASE_URL at it) holding
calls whose every figure the tests know, and an AppTest of the real app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from streamlit.testing.v1 import AppTest

from db import Store, open_store
from db.models import CallStatus, CallUpdate, Provider
from settings import get_settings
from tests.conftest import ROOT

# How long a browser test waits for what it expects to appear (Playwright's default is 5 s): a
# page rerun that takes 1 s alone takes several on a 2-core machine running the whole suite.
expect.set_options(timeout=30_000)

APP = str(ROOT / "app.py")
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def store() -> Iterator[Store]:
    opened = open_store(get_settings())
    opened.migrate()
    yield opened
    opened.close()


AddCall = Callable[..., str]


def greeted(driver: str, load: str, answer: str) -> list[dict[str, str]]:
    """A transcript: the agent asks the driver about the load, the driver answers."""
    return [
        {"role": "agent", "content": f"Hi {driver.split()[0]}, how is load {load}?"},
        {"role": "user", "content": answer},
    ]


def save_call(
    store: Store, provider: Provider, call_id: str, driver: str, load: str, **fields: Any
) -> None:
    """Upsert the call of `driver` (added if new) about `load`, with `fields` of CallUpdate."""
    update = CallUpdate(driver_id=store.ensure_driver(driver), load_number=load, **fields)
    store.upsert_call(provider, call_id, update)


@pytest.fixture
def add_call(store: Store) -> AddCall:
    """Insert one ended call; returns its provider_call_id."""
    counter = iter(range(1, 10_000))

    def add(
        provider: Provider = Provider.RETELL,
        *,
        driver: str = "Mike Johnson",
        load: str = "7891-B",
        outcome: str | None = "In-Transit Update",
        driver_status: str | None = "Driving",
        emergency_type: str | None = None,
        emergency: str | None = None,
        age: timedelta = timedelta(hours=1),
        duration: float = 90.0,
        interruptions: int = 1,
        keyword_hits: dict[str, int] | None = None,
        transcript: list[dict[str, str]] | None = None,
        latency_ms: float | None = None,
        call_id: str | None = None,
    ) -> str:
        call_id = call_id or f"{provider.value}-call-{next(counter)}"
        if emergency is not None:  # an emergency escalation of that type, no driver status
            outcome, emergency_type, driver_status = "Emergency Escalation", emergency, None
        structured: dict[str, Any] = {
            "call_outcome": outcome,
            "driver_status": driver_status,
            "emergency_type": emergency_type,
            "current_location": "I-10 near Indio",
        }
        save_call(
            store,
            provider,
            call_id,
            driver,
            load,
            origin="Phoenix, AZ",
            destination="Los Angeles, CA",
            status=CallStatus.ENDED,
            call_type="web_call",
            created_at=NOW - age,
            duration_secs=duration,
            interruptions_est=interruptions,
            keyword_hits=keyword_hits or {},
            sentiment=0.2,
            transcript=transcript
            or greeted(driver, load, "Driving on I-10, should be there by 4 pm."),
            structured=structured if outcome else None,
            latency={"e2e_p50_ms": latency_ms} if latency_ms is not None else None,
        )
        return call_id

    return add


@pytest.fixture
def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)
