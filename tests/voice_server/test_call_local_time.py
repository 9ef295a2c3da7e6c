"""The call's local time reaches the agent over the Retell protocol, fixed at the call's start:
an ETA of "in 2 hours" is judged against the appointment the same way on every reconnect."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from db.models import Call, CallStatus, Provider
from protocols.call_clock import call_local_time
from protocols.retell.caller import (
    RetellCaller,
    llm_socket_url,
    new_simulated_call_id,
    simulated_call_details,
    simulated_caller,
)
from protocols.start_call import StartCallRequest
from settings import load_settings
from tests.voice_server.conftest import RunningServer, auth
from tests.voice_server.retell_api_double import RetellApiDouble
from tests.voice_server.test_retell_socket import wait_for_call

AGENT_ID = "agent_custom_llm_1"
ETA_LINE = "Driving on I-10 near Tucson, should be there in 2 hours."
# Thursday 26 November 2026, noon in Chicago (CST, UTC-6).
NOON_CST = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("appointment", "expected"),
    [
        ("Thu Nov 26, 1:30 PM CST", "2026-11-26T12:00:00-06:00"),
        ("Thu Jul 2, 1:30 PM PDT", "2026-11-26T11:00:00-07:00"),
        ("2026-11-26T15:00-08:00", "2026-11-26T10:00:00-08:00"),
        ("4 pm America/Denver", "2026-11-26T11:00:00-07:00"),
        ("4 pm ET", "2026-11-26T13:00:00-05:00"),
        ("4 PM", "2026-11-26T18:00:00+00:00"),  # no zone named: DISPATCH_TIMEZONE
        (None, "2026-11-26T18:00:00+00:00"),
    ],
)
def test_the_local_time_is_in_the_appointments_zone_else_the_dispatch_zone(
    appointment: str | None, expected: str
) -> None:
    assert call_local_time(appointment, "UTC", NOON_CST) == expected


def test_dispatch_timezone_rules_apply_on_the_calls_date() -> None:
    summer = datetime(2026, 7, 2, 17, 0, tzinfo=UTC)
    assert call_local_time("9 am", "America/Chicago", summer) == "2026-07-02T12:00:00-05:00"
    assert call_local_time("9 am", "America/Chicago", NOON_CST) == "2026-11-26T12:00:00-06:00"


def caller(server: RunningServer, call_id: str, details: dict[str, Any]) -> RetellCaller:
    return RetellCaller(
        llm_socket_url(server.url, call_id),
        call_details=details,
        ping_interval=None,
        reply_timeout=10,
    )


async def call_then_reconnect(
    server: RunningServer, call_id: str, details: dict[str, Any]
) -> tuple[Call, Call]:
    """The driver gives the ETA, the socket drops, Retell reconnects (same call object, whole
    transcript resent) and the driver says one more thing: the saved call after each part."""
    first = caller(server, call_id, details)
    await first.connect()
    await first.say(ETA_LINE)
    await first.abort()
    after_first = await wait_for_call(server, call_id, lambda c: c.status == CallStatus.ENDED)

    second = caller(server, call_id, details)
    await second.connect()
    second.transcript = [*first.transcript]
    await second.say("No delays so far.")
    await second.hang_up()
    after_second = await wait_for_call(server, call_id, lambda c: len(c.transcript) >= 5)
    return after_first, after_second


@pytest.fixture
def retell_api() -> Iterator[RetellApiDouble]:
    double = RetellApiDouble().start()
    yield double
    double.stop()


async def test_a_call_started_through_the_api_carries_its_start_time_to_the_agent(
    serve: Callable[..., RunningServer], make_settings: Any, retell_api: RetellApiDouble
) -> None:
    server = serve(
        make_settings(
            retell_base_url=retell_api.url,
            retell_agent_id=AGENT_ID,
            dispatch_timezone="America/Chicago",
        )
    )
    before = datetime.now(UTC).replace(microsecond=0)
    response = await asyncio.to_thread(
        httpx.post,
        server.url + "/api/v1/calls/start",
        json={
            "driver_name": "Maria Lopez",
            "load_number": "LD-1001",
            "origin": "Phoenix, AZ",
            "destination": "El Paso, TX",
            # Dated, and years ahead: in 2 hours is on time whenever the test runs.
            "appointment": "2030-01-02 8:00 AM PST",
        },
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    after = datetime.now(UTC)
    call_id = response.json()["provider_call_id"]

    local_time = retell_api.calls[call_id]["retell_llm_dynamic_variables"]["local_time"]
    started = datetime.fromisoformat(local_time)
    assert started.utcoffset() is not None and started.utcoffset().total_seconds() == -8 * 3600
    assert before <= started <= after
    row = await asyncio.to_thread(server.store.get_call, call_id, Provider.RETELL)
    assert row.metadata["local_time"] == local_time

    # What Retell sends on the socket: the call object it was created with, now ongoing.
    details = retell_api.calls[call_id] | {"call_status": "ongoing", "direction": "outbound"}
    after_first, after_second = await call_then_reconnect(server, call_id, details)
    assert after_first.structured["eta"] == "in 2 hours"
    assert after_first.structured["on_time_status"] == "On Time"
    assert after_second.structured["on_time_status"] == "On Time"


async def test_without_a_local_time_the_calls_own_start_is_used_on_every_reconnect(
    serve: Callable[..., RunningServer], make_settings: Any
) -> None:
    """A call started elsewhere (inbound, Retell's dashboard) sends no local_time: Retell's
    start_timestamp, the same on every reconnect, places "in 2 hours"."""
    server = serve(make_settings(dispatch_timezone="America/Chicago"))
    call_id = new_simulated_call_id()
    details = simulated_call_details(
        call_id,
        driver_name="Maria Lopez",
        load_number="LD-1001",
        appointment="Thu Nov 26, 1:30 PM CST",
        start_timestamp_ms=int(NOON_CST.timestamp() * 1000),
    )
    assert "local_time" not in details["retell_llm_dynamic_variables"]

    after_first, after_second = await call_then_reconnect(server, call_id, details)
    for saved in (after_first, after_second):
        # 12:00 + 2 hours against 1:30 PM: 30 minutes late, not judged against today's clock.
        assert saved.structured["on_time_status"] == "Late"
        assert saved.structured["minutes_late"] == 30


async def test_the_simulated_calls_local_time_wins_over_the_socket_clock(
    serve: Callable[..., RunningServer], make_settings: Any
) -> None:
    server = serve(make_settings())
    call_id = new_simulated_call_id()
    details = simulated_call_details(
        call_id,
        driver_name="Maria Lopez",
        load_number="LD-1001",
        appointment="Thu Nov 26, 3:00 PM CST",
        local_time="2026-11-26T13:45:00-06:00",
    )
    after_first, after_second = await call_then_reconnect(server, call_id, details)
    for saved in (after_first, after_second):
        assert saved.structured["on_time_status"] == "Late"
        assert saved.structured["minutes_late"] == 45


def test_a_simulated_call_fixes_its_local_time_when_it_starts() -> None:
    """The Trigger page's and the scheduler's simulated calls (`simulated_caller`) send the
    local time of their start, in the appointment's zone, with the same start timestamp."""
    request = StartCallRequest(
        driver_name="Maria Lopez", load_number="LD-1001", driver_phone="+13125550147",
        origin="Dallas, TX", destination="Denver, CO", appointment="Thu Nov 26, 1:30 PM MST",
    )  # fmt: skip
    before = datetime.now(UTC).replace(microsecond=0)
    settings = load_settings(
        voice_server_url="http://127.0.0.1:8000", dispatch_timezone="UTC", dispatch_api_key="k"
    )
    call_id, caller = simulated_caller(RetellCaller, settings, request)

    assert caller.url == llm_socket_url("http://127.0.0.1:8000", call_id)
    assert caller.headers == {"Authorization": "Bearer k"}
    details = caller.call_details or {}
    local_time = datetime.fromisoformat(details["retell_llm_dynamic_variables"]["local_time"])
    assert local_time.utcoffset() == timedelta(hours=-7)
    assert before <= local_time <= datetime.now(UTC)
    assert details["start_timestamp"] // 1000 == local_time.timestamp()
    assert details["to_number"] == "+13125550147" and call_id.startswith("sim_")
