"""Every webhook and Pipecat event delivered three times, even all at once: one call row, one
event row, and exactly one delivery reported as new."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.resilience import traffic
from tests.resilience.conftest import PIPECAT_KEY

DELIVERIES = 3


@pytest.fixture(params=["sqlite", "postgres"])
def server(request, serve: Callable[..., Any], make_settings: Callable[..., Any]) -> Any:
    overrides: dict[str, Any] = {"pipecat_api_key": PIPECAT_KEY}
    if request.param == "postgres":
        overrides["database_url"] = request.getfixturevalue("postgres_database")()
    return serve(make_settings(**overrides))


async def test_three_simultaneous_deliveries_of_each_webhook_keep_one_row(server: Any) -> None:
    database_url = server.app.state.settings.database_url
    for event in ("call_started", "call_ended", "call_analyzed"):
        body = traffic.webhook_body("call_thrice", event)
        answers = await asyncio.gather(
            *(asyncio.to_thread(traffic.post_webhook, server.url, body) for _ in range(DELIVERIES))
        )
        assert [a.status_code for a in answers] == [200] * DELIVERIES
        assert sorted(a.json()["duplicate"] for a in answers) == [False, True, True]
    assert traffic.count_rows(database_url, "calllog", "call_thrice") == 1
    assert traffic.count_rows(database_url, "call_events", "call_thrice") == 3  # one per event type


async def test_three_simultaneous_deliveries_of_a_pipecat_summary_keep_one_row(
    server: Any,
) -> None:
    database_url = server.app.state.settings.database_url
    summary = traffic.pipecat_summary("pc_thrice")
    answers = await asyncio.gather(
        *(asyncio.to_thread(traffic.post_pipecat, server.url, summary) for _ in range(DELIVERIES))
    )
    assert [a.status_code for a in answers] == [200] * DELIVERIES
    assert sorted(a.json()["duplicate"] for a in answers) == [False, True, True]
    assert traffic.count_rows(database_url, "calllog", "pc_thrice") == 1
    assert traffic.count_rows(database_url, "call_events", "pc_thrice") == 1
