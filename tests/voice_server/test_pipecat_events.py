"""POST /api/v1/pipecat/event and GET /api/v1/pipecat/metrics on a real server and store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from db.models import CallFilters
from tests.voice_server.conftest import API_KEY, RunningServer

PIPECAT_KEY = "test-pipecat-key-0123456789"


def summary_event(provider_call_id: str = "pc_test_1", **data_overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "duration_secs": 61.25,
        "keywords": ["traffic"],
        "keyword_hits": {"traffic": 2},
        "interruptions": 1,
        "sentiment": 0.4,
        "tokens": 812,
        "turns": {"user": 3, "bot": 4},
        "latency": {
            "e2e_p50_ms": 420.0,
            "ttfb_ms": {"agent": {"p50": 3.0, "max": 4.0, "count": 4}},
        },
        "transcript": [
            {"role": "agent", "content": "Hi Maria, this is dispatch. How is load 7731 going?"},
            {"role": "user", "content": "Stuck in traffic near Dallas, about an hour late."},
        ],
        "structured": {"call_outcome": "In-Transit Update", "driver_status": "Delayed"},
        "end_reason": "end",
        "context": {"driver_name": "Maria Lopez", "load_number": "7731", "transport": "webrtc"},
    }
    data.update(data_overrides)
    return {
        "provider_call_id": provider_call_id,
        "event_type": "session_summary",
        "event_id": f"{provider_call_id}-summary",
        "data": data,
    }


@pytest.fixture
def server(serve: Callable[..., RunningServer], make_settings: Callable[..., Any]) -> RunningServer:
    return serve(make_settings(pipecat_api_key=PIPECAT_KEY))


def post_event(server: RunningServer, body: Any, key: str | None = PIPECAT_KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.url}/api/v1/pipecat/event", json=body, headers=headers)


def test_a_summary_creates_the_call_and_fills_its_columns(server: RunningServer) -> None:
    response = post_event(server, summary_event())

    assert response.status_code == 200
    assert response.json()["duplicate"] is False
    call = server.store.get_call("pc_test_1")
    assert call is not None
    assert call.provider == "pipecat"
    assert call.status == "ended"
    assert call.duration_secs == pytest.approx(61.25)
    assert call.interruptions_est == 1
    assert call.tokens_estimated == 812
    assert call.keyword_hits == {"traffic": 2}
    assert call.sentiment == pytest.approx(0.4)
    assert call.transcript[1]["content"].startswith("Stuck in traffic")
    assert call.structured is not None
    assert call.structured["call_outcome"] == "In-Transit Update"
    assert call.call_outcome == "In-Transit Update"
    assert call.latency is not None and call.latency["e2e_p50_ms"] == 420.0
    assert call.driver_name == "Maria Lopez"
    assert call.load_number == "7731"
    assert call.disconnection_reason == "end"


def test_every_figure_without_a_column_of_its_own_is_kept_in_metadata(
    server: RunningServer,
) -> None:
    event = summary_event(conversation_turns=5, interrupted_turns=2, speaking_secs={"bot": 9.5})

    assert post_event(server, event).status_code == 200

    metadata = server.store.get_call("pc_test_1").metadata
    assert metadata == {
        "keywords": ["traffic"],
        "turns": {"user": 3, "bot": 4},
        "conversation_turns": 5,
        "interrupted_turns": 2,
        "speaking_secs": {"bot": 9.5},
    }


def test_the_same_summary_sent_twice_is_stored_once(server: RunningServer) -> None:
    first = post_event(server, summary_event())
    second = post_event(server, summary_event())

    assert first.json()["duplicate"] is False
    assert second.status_code == 200 and second.json()["duplicate"] is True
    page = server.store.search_calls(CallFilters(provider="pipecat"))
    assert page.total == 1
    assert server.store.get_call("pc_test_1").interruptions_est == 1


def test_session_started_marks_the_call_ongoing_and_a_later_summary_ends_it(
    server: RunningServer,
) -> None:
    started = {
        "provider_call_id": "pc_test_2",
        "event_type": "session_started",
        "event_id": "pc_test_2-started",
        "data": {"context": {"driver_name": "Ann Brook", "load_number": "L-9", "origin": "Reno"}},
    }
    assert post_event(server, started).status_code == 200
    call = server.store.get_call("pc_test_2")
    assert call.status == "ongoing" and call.origin == "Reno" and call.driver_name == "Ann Brook"

    post_event(server, summary_event("pc_test_2"))
    assert server.store.get_call("pc_test_2").status == "ended"


def test_an_unknown_event_type_is_kept_but_changes_nothing(server: RunningServer) -> None:
    post_event(server, summary_event())
    before = server.store.get_call("pc_test_1")

    odd = {
        "provider_call_id": "pc_test_1",
        "event_type": "bot_mood_changed",
        "event_id": "x1",
        "data": {"duration_secs": 1, "sentiment": -1},
    }
    response = post_event(server, odd)

    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "duplicate": False,
        "applied": False,
        "provider_call_id": "pc_test_1",
    }
    after = server.store.get_call("pc_test_1")
    assert after.duration_secs == before.duration_secs and after.sentiment == before.sentiment
    assert post_event(server, odd).json()["duplicate"] is True  # it was stored


@pytest.mark.parametrize("key", [None, "wrong-key", API_KEY])
def test_events_need_the_pipecat_key(server: RunningServer, key: str | None) -> None:
    response = post_event(server, summary_event(), key=key)

    assert response.status_code == 401
    assert "PIPECAT_API_KEY" in response.json()["detail"]
    assert server.store.get_call("pc_test_1") is None


def test_without_a_pipecat_key_configured_the_server_says_which_variable(
    serve: Callable[..., RunningServer], make_settings: Callable[..., Any]
) -> None:
    server = serve(make_settings())

    response = post_event(server, summary_event())

    assert response.status_code == 503
    assert "PIPECAT_API_KEY" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        ({"event_type": "session_summary", "event_id": "e", "data": {}}, "provider_call_id"),
        ({"provider_call_id": "pc", "event_type": "session_summary", "data": {}}, "event_id"),
        (summary_event(duration_secs=-3), "duration_secs"),
        (summary_event(sentiment=7), "sentiment"),
        (summary_event(interruptions="many"), "interruptions"),
        (summary_event(interrupted_turns=-1), "interrupted_turns"),
        (summary_event(transcript=[{"role": "narrator", "content": "x"}]), "role"),
    ],
)
def test_a_bad_body_is_a_422_naming_the_field_and_stores_nothing(
    server: RunningServer, body: dict[str, Any], bad_field: str
) -> None:
    response = post_event(server, body)

    assert response.status_code == 422
    locations = [err["loc"] for err in response.json()["detail"]]
    assert any(bad_field in loc for loc in locations), locations
    assert server.store.get_call(body.get("provider_call_id", "pc")) is None


def test_metrics_list_pipecat_sessions_with_aggregates(server: RunningServer) -> None:
    post_event(server, summary_event("pc_a", interruptions=2, tokens=100))
    post_event(server, summary_event("pc_b", interruptions=0, tokens=300, keyword_hits={}))

    response = httpx.get(
        f"{server.url}/api/v1/pipecat/metrics",
        params={"page_size": 1},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2 and len(body["items"]) == 1
    assert set(body["items"][0]) >= {
        "id",
        "driver_id",
        "load_number",
        "created_at",
        "duration_secs",
        "interruptions_est",
        "tokens_estimated",
        "keyword_hits",
    }
    assert body["aggregates"]["total_calls"] == 2
    assert body["aggregates"]["total_tokens"] == 400


def test_metrics_filter_by_load_and_need_the_dispatch_key(server: RunningServer) -> None:
    post_event(server, summary_event("pc_a"))
    other = summary_event("pc_b")
    other["data"]["context"]["load_number"] = "9999"
    post_event(server, other)
    url = f"{server.url}/api/v1/pipecat/metrics"

    filtered = httpx.get(
        url, params={"load_number": "9999"}, headers={"Authorization": f"Bearer {API_KEY}"}
    ).json()
    assert [item["provider_call_id"] for item in filtered["items"]] == ["pc_b"]

    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {PIPECAT_KEY}"}).status_code == 401
    bad_page = httpx.get(url, params={"page": 0}, headers={"Authorization": f"Bearer {API_KEY}"})
    assert bad_page.status_code == 422


def transcript_event(provider_call_id: str, *turns: str, n: int = 1) -> dict[str, Any]:
    roles = ("agent", "user")
    return {
        "provider_call_id": provider_call_id,
        "event_type": "transcript_updated",
        "event_id": f"{provider_call_id}-live-{n}",
        "data": {
            "transcript": [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]
        },
    }


def test_a_live_transcript_update_grows_the_ongoing_calls_transcript_and_is_not_kept(
    server: RunningServer,
) -> None:
    greeting = "Hi Maria, how is load 7731?"
    assert post_event(server, transcript_event("pc_live", greeting)).json()["applied"] is True
    call = server.store.get_call("pc_live")
    assert call.status == "ongoing" and call.transcript == [{"role": "agent", "content": greeting}]

    post_event(server, transcript_event("pc_live", greeting, "Near Waco on I-35", n=2))
    assert server.store.get_call("pc_live").transcript[-1]["content"] == "Near Waco on I-35"
    again = post_event(server, transcript_event("pc_live", greeting, n=1))
    assert again.json()["duplicate"] is False  # live updates are not kept as events
    assert server.store.get_call("pc_live").transcript[-1]["content"] == "Near Waco on I-35"


def test_a_late_live_update_never_changes_an_ended_call(server: RunningServer) -> None:
    post_event(server, summary_event("pc_done"))
    ended = server.store.get_call("pc_done")

    late = post_event(server, transcript_event("pc_done", "Hi", "stale words", "more", n=9))

    assert late.status_code == 200 and late.json()["applied"] is False
    after = server.store.get_call("pc_done")
    assert after.status == "ended" and after.transcript == ended.transcript


def test_a_live_update_with_a_bad_turn_is_a_422_and_changes_nothing(server: RunningServer) -> None:
    bad = transcript_event("pc_bad", "Hi")
    bad["data"]["transcript"][0]["role"] = "narrator"
    response = post_event(server, bad)
    assert response.status_code == 422 and "transcript" in response.text
    assert server.store.get_call("pc_bad") is None
