"""A Pipecat session's context holds the call's local time, fixed when the session is
registered: the agent in the pipeline judges "in 2 hours" against the appointment with it,
whenever the session is joined; its token joins once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.sessions import SessionRefused, registry_for, session_router
from settings import get_settings
from tests.bot.conftest import PIPECAT_KEY, BotCall, bot_settings

LOAD = {"driver_name": "Maria Lopez", "load_number": "7731"}
ETA_LINE = "Driving on I-10 near Tucson, should be there in 2 hours."


def register(context: dict[str, str], **settings: str) -> str:
    app = FastAPI()
    app.include_router(session_router(bot_settings(**settings)))
    with TestClient(app) as client:
        response = client.post(
            "/dispatch/sessions",
            json={"provider_call_id": "pc_on_time", "context": context},
            headers={"Authorization": f"Bearer {PIPECAT_KEY}"},
        )
    assert response.status_code == 200, response.text
    return response.json()["session"]


def resolve(body: dict[str, str], timezone: str = "UTC"):
    """What the bot does with a runner body: the session it names, or an ad-hoc one."""
    return registry_for(get_settings()).resolve(
        body, fallback_id="adhoc1", transport="webrtc", timezone=timezone
    )


async def on_time_of(make_call: Callable[..., BotCall], context: dict[str, str], spool: str):
    """The driver gives an ETA in the real pipeline; the summary's structured result."""
    call = make_call("pc_on_time", context=context, spool=spool)
    await call.answer()
    await call.driver_says(ETA_LINE)
    await call.hang_up()
    await call.wait_finished()
    return call.summary_event()["data"]["structured"]


async def test_an_eta_in_2_hours_is_late_against_the_appointment_on_every_join(
    make_call: Callable[..., BotCall],
) -> None:
    # What the voice server registers: the local time it fixed when the call started.
    token = register(
        LOAD | {"appointment": "Thu Nov 26, 1:30 PM CST", "local_time": "2026-11-26T12:00:00-06:00"}
    )
    first = resolve({"session": token})
    assert first.context["local_time"] == "2026-11-26T12:00:00-06:00"
    structured = await on_time_of(make_call, first.context, "first")
    assert structured["eta"] == "in 2 hours"
    assert structured["on_time_status"] == "Late" and structured["minutes_late"] == 30

    # The token is spent: joining with it again is refused, not a second session.
    with pytest.raises(SessionRefused):
        resolve({"session": token})


async def test_a_session_registered_without_a_local_time_is_given_one_once(
    make_call: Callable[..., BotCall],
) -> None:
    # Dated, years ahead: in 2 hours is on time whenever the test runs.
    token = register(
        LOAD | {"appointment": "2030-01-02 8:00 AM PST"}, dispatch_timezone="America/Chicago"
    )
    spec = resolve({"session": token})
    fixed = spec.context["local_time"]
    assert datetime.fromisoformat(fixed).utcoffset().total_seconds() == -8 * 3600  # PST

    structured = await on_time_of(make_call, spec.context, "stamped")
    assert structured["on_time_status"] == "On Time"


def test_an_ad_hoc_session_gets_its_start_in_the_dispatch_zone() -> None:
    spec = resolve({"driver_name": "Sam", "appointment": "4 PM"}, timezone="America/Denver")
    offset = datetime.fromisoformat(spec.context["local_time"]).utcoffset().total_seconds()
    assert offset in (-7 * 3600, -6 * 3600)  # MST or MDT, whichever the day has
