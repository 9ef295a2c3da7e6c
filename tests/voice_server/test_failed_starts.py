"""A start the provider refuses leaves the same trace on both engines: one `error` row with the
driver, the load and the reason, which figures count as a failed start and nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from db.models import CallFilters, CallStatus, Provider
from tests.conftest import free_port
from tests.voice_server.conftest import auth
from tests.voice_server.retell_api_double import RetellApiDouble

PIPECAT_KEY = "test-pipecat-key-0123456789"
BODY = {
    "mode": "web", "driver_name": "Maria Lopez", "driver_phone": "+14155550123",
    "load_number": "7731", "origin": "Laredo, TX", "destination": "Dallas, TX",
}  # fmt: skip


@pytest.fixture
def retell_api() -> Iterator[RetellApiDouble]:
    double = RetellApiDouble().start()
    double.fail_with = (500, "upstream down")
    yield double
    double.stop()


@pytest.mark.parametrize("vendor", ["retell", "pipecat"])
def test_a_refused_start_leaves_one_error_row_on_either_engine(
    serve: Callable[..., Any], make_settings: Callable[..., Any], retell_api, vendor: str
) -> None:
    server = serve(
        make_settings(
            retell_base_url=retell_api.url,
            retell_agent_id="agent_failing",
            pipecat_api_key=PIPECAT_KEY,
            bot_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: the bot is down
        )
    )
    response = httpx.post(
        server.url + "/api/v1/calls/start", json={**BODY, "vendor": vendor}, headers=auth()
    )
    assert response.status_code == 502, response.text
    [row] = server.store.search_calls(CallFilters()).items
    assert row.provider == Provider(vendor) and row.status == CallStatus.ERROR
    assert row.error and row.driver_name == "Maria Lopez" and row.load_number == "7731"
    assert row.origin == "Laredo, TX" and row.destination == "Dallas, TX"
    figures = server.store.retell_metrics(CallFilters(provider=Provider(vendor)))
    assert figures.by_status == {"error": 1}
    connected = CallFilters(provider=Provider(vendor), failed_start=False)
    assert server.store.retell_metrics(connected).total_calls == 0
