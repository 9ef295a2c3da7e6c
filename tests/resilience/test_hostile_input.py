"""Hostile input: fuzzed requests, forged credentials, oversized bodies, abusive sockets, search
operators. Every answer is a clean 4xx (never a 5xx), nothing is written, other calls go on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from db.models import CallStatus, CallUpdate, Provider
from protocols.retell.caller import RetellCaller, llm_socket_url, simulated_call_details
from tests.resilience import traffic
from tests.resilience.conftest import API_KEY, PIPECAT_KEY, RETELL_KEY, auth
from tests.voice_server.retell_api_double import RetellApiDouble

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# These proxy to a voice provider or the bot; with a provider down, 502/503 is their documented
# answer, so the authenticated fuzz leaves them to tests/voice_server (the unauthenticated one
# still covers them).
PROVIDER_PATHS = r"^/api/v1/(calls/start|voice/start|calls/\{provider_call_id\}/provider)$"


@pytest.fixture
def retell_api():
    double = RetellApiDouble().start()
    yield double
    double.stop()


@pytest.fixture
def server(serve: Callable[..., Any], make_settings: Callable[..., Any], retell_api) -> Any:
    return serve(
        make_settings(
            pipecat_api_key=PIPECAT_KEY,
            retell_base_url=retell_api.url,
            retell_agent_id="agent_fuzz",
            retell_from_number="+15550001234",
        )
    )


def all_rows(server: Any) -> tuple[int, int]:
    url = server.app.state.settings.database_url
    path = url.removeprefix("sqlite:///")
    import sqlite3

    with sqlite3.connect(path) as conn:
        calls = conn.execute("SELECT count(*) FROM calllog").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM call_events").fetchone()[0]
    return calls, events


# --- fuzzing the OpenAPI spec -------------------------------------------------------------------


def run_schemathesis(server_url: str, cwd: Path, *options: str) -> subprocess.CompletedProcess:
    if not SCHEMATHESIS.exists():
        pytest.skip("schemathesis CLI not installed")
    command = [
        str(SCHEMATHESIS), "run", f"{server_url}/openapi.json", "--checks", "not_a_server_error",
        "--seed", "6", "--generation-database", "none", "--phases", "examples,coverage,fuzzing",
        "--request-timeout", "10", "--workers", "1", "--no-color", *options,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=cwd)


@pytest.mark.parametrize("authenticated", [True, False], ids=["with-key", "without-key"])
def test_fuzzed_requests_from_the_openapi_spec_never_get_a_5xx(
    server: Any, authenticated: bool, tmp_path: Path
) -> None:
    options = ["--max-examples", "30"]
    if authenticated:
        options += ["-H", f"Authorization: Bearer {API_KEY}"]
        options += ["--exclude-path-regex", PROVIDER_PATHS]
    result = run_schemathesis(server.url, tmp_path, *options)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and "Server error" not in result.stdout


def test_fuzzed_pipecat_events_with_the_bots_key_never_get_a_5xx(server: Any, tmp_path) -> None:
    # One bearer header per run: the bot's intake takes PIPECAT_API_KEY, not the dispatch key.
    options = ["--include-path", "/api/v1/pipecat/event", "--max-examples", "40"]
    options += ["-H", f"Authorization: Bearer {PIPECAT_KEY}"]
    result = run_schemathesis(server.url, tmp_path, *options)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# --- credentials ----------------------------------------------------------------------------------

PROTECTED = [
    ("GET", "/api/v1/calls/call_secret"),
    ("GET", "/api/v1/calls/call_secret/provider"),
    ("GET", "/api/v1/conversations?query=wreck"),
    ("GET", "/api/v1/conversations/export.csv"),
    ("GET", "/api/v1/metrics"),
    ("GET", "/api/v1/pipecat/metrics"),
    ("POST", "/api/v1/calls/start"),
    ("POST", "/api/v1/voice/start"),
    ("POST", "/api/v1/pipecat/event"),
]
BAD_CREDENTIALS = {
    "missing": {},
    "wrong": {"Authorization": "Bearer not-the-key"},
    "no-scheme": {"Authorization": API_KEY},
    "basic": {"Authorization": f"Basic {API_KEY}"},
    "other-services-key": {"Authorization": f"Bearer {RETELL_KEY}"},
    "prefix": {"Authorization": f"Bearer {API_KEY[:-1]}"},
}
START_BODY = {
    "vendor": "retell", "mode": "web", "driver_name": "Eve Intruder",
    "driver_phone": "+14155550199", "load_number": "LD-666", "origin": "A", "destination": "B",
}  # fmt: skip


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_wrong_or_missing_keys_are_refused_and_nothing_is_written_or_shown(
    server: Any, retell_api: RetellApiDouble, credentials: dict[str, str]
) -> None:
    transcript = [{"role": "user", "content": "confidential wreck near Tulsa"}]
    server.store.upsert_call(
        Provider.RETELL, "call_secret", CallUpdate(transcript=transcript, status=CallStatus.ENDED)
    )
    before = all_rows(server)
    for method, path in PROTECTED:
        body = traffic.pipecat_summary("pc_intruder") if "pipecat/event" in path else START_BODY
        response = httpx.request(
            method, server.url + path, headers=credentials, json=body if method == "POST" else None
        )
        assert response.status_code == 401, (path, response.status_code, response.text)
        assert "confidential" not in response.text and "Tulsa" not in response.text
        assert API_KEY not in response.text and PIPECAT_KEY not in response.text
    assert all_rows(server) == before
    assert retell_api.requests == []  # nobody made us place a call
    # The same call with the key is readable: the refusals were about the key alone.
    ok = httpx.get(server.url + "/api/v1/calls/call_secret", headers=auth())
    assert ok.status_code == 200 and ok.json()["transcript"] == transcript


def test_forged_expired_tampered_and_replayed_webhooks_write_nothing_new(server: Any) -> None:
    body = traffic.webhook_body("call_hooked")
    old = int(time.time() * 1000) - 6 * 60 * 1000  # Retell's tolerance is five minutes
    future = int(time.time() * 1000) + 6 * 60 * 1000
    genuine = traffic.signed(body)
    refused = {
        "forged with another key": traffic.signed(body, key="key_attacker_guess"),
        "expired": traffic.signed(body, timestamp=old),
        "from the future": traffic.signed(body, timestamp=future),
        "missing": {"content-type": "application/json"},
        "garbage": {"x-retell-signature": "v=1,d=zz", "content-type": "application/json"},
        "empty": {"x-retell-signature": "", "content-type": "application/json"},
    }
    for name, headers in refused.items():
        response = traffic.post_webhook(server.url, body, headers)
        assert response.status_code == 401, (name, response.text)
    tampered = body.replace("agent_hangup", "user_hangup")
    assert traffic.post_webhook(server.url, tampered, genuine).status_code == 401
    assert all_rows(server) == (0, 0)

    assert traffic.post_webhook(server.url, body, genuine).json()["duplicate"] is False
    replay = traffic.post_webhook(server.url, body, genuine)  # captured and resent within 5 minutes
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert all_rows(server) == (1, 1)


# --- body size ------------------------------------------------------------------------------------

OVERSIZED = 1_048_576 + 1


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/v1/retell/webhook", {"content-type": "application/json"}),
        ("/api/v1/pipecat/event", {"Authorization": f"Bearer {PIPECAT_KEY}"}),
        ("/api/v1/calls/start", {"Authorization": f"Bearer {API_KEY}"}),
    ],
)
def test_bodies_over_the_limit_get_413_declared_or_streamed(
    server: Any, path: str, headers: dict[str, str]
) -> None:
    padding = '{"provider_call_id": "pc_big", "pad": "' + "x" * OVERSIZED + '"}'
    declared = httpx.post(server.url + path, content=padding.encode(), headers=headers)
    assert declared.status_code == 413

    def chunks():  # no Content-Length: the limit is counted as the body streams in
        for start in range(0, len(padding), 65536):
            yield padding[start : start + 65536].encode()

    streamed = httpx.post(server.url + path, content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert all_rows(server) == (0, 0)
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"


# --- the Retell socket ----------------------------------------------------------------------------

ABUSE: dict[str, list[str | bytes]] = {
    "binary frames": [b"\x00\xff" * 512, b"{}"],
    "invalid json": ["{not json", "[1, 2", "null", '"a string"', "42"],
    "wrong types": [
        '{"interaction_type": "response_required", "response_id": "seven", "transcript": []}',
        '{"interaction_type": "response_required", "response_id": 7, "transcript": "all of it"}',
        '{"interaction_type": "response_required", "response_id": 7, "transcript": [{"role": 1}]}',
        '{"interaction_type": "ping_pong", "timestamp": {"a": 1}}',
        '{"interaction_type": 12}',
        '{"interaction_type": "call_details", "call": []}',
        '{"interaction_type": "definitely_not_a_type"}',
        '{"response_id": -1}',
    ],
    "large text frame": ["x" * 2_000_000],
    "flood": ['{"interaction_type": "update_only", "transcript": []}'] * 2000 + ["{broken"] * 2000,
}


@pytest.mark.parametrize("frames", ABUSE.values(), ids=ABUSE.keys())
async def test_abusive_frames_leave_the_call_working_and_other_calls_unharmed(
    server: Any, frames: list[str | bytes]
) -> None:
    call_id = f"call_abused_{len(frames)}"
    caller = RetellCaller(
        llm_socket_url(server.url, call_id),
        call_details=simulated_call_details(call_id, driver_name="Maria Lopez"),
        ping_interval=None,
        reply_timeout=20,
    )
    async with caller:
        bystander = asyncio.create_task(traffic.retell_call(server.url, "call_bystander"))
        for frame in frames:
            await caller.send_raw(frame)
        reply = await caller.say("I'm on I-10 near Tucson.")
        assert reply.complete and reply.text
        assert await caller.ping() >= 0
        assert (await bystander).protocol_errors == []
    assert caller.protocol_errors == []
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"


async def test_a_frame_over_the_socket_limit_closes_only_that_call_cleanly(server: Any) -> None:
    victim = f"{llm_socket_url(server.url, 'call_huge')}"
    async with connect(victim, max_size=2**22) as socket:
        await socket.recv()  # config
        await socket.send("y" * (17 * 1024 * 1024))  # over uvicorn's 16 MiB WebSocket limit
        with pytest.raises(Exception):  # noqa: B017 (any clean close is fine)
            for _ in range(5):
                await asyncio.wait_for(socket.recv(), 10)
        assert socket.close_code in {1009, 1006, 1011}
    caller = await traffic.retell_call(server.url, "call_after_huge")
    assert caller.protocol_errors == [] and len(caller.transcript) == 7
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"


# --- search strings -------------------------------------------------------------------------------

SEARCHES = {
    "tulsa' OR '1'='1": [],
    "'; DROP TABLE calllog; --": [],
    "wreck OR arriving": [],
    "wreck NEAR(tulsa)": ["call_a"],
    "tulsa*": ["call_a"],
    "-wreck tulsa": ["call_a"],
    "tulsa & !wreck": ["call_a"],
    '"wreck': ["call_a"],
    "tulsa:*": ["call_a"],
    "trailer 42": ["call_b"],
    "42) UNION SELECT * FROM drivers --": [],
}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_search_strings_with_sql_and_full_text_operators_are_plain_words(
    serve: Callable[..., Any],
    make_settings: Callable[..., Any],
    postgres_database: Callable[[], str],
    backend: str,
) -> None:
    overrides = {"database_url": postgres_database()} if backend == "postgres" else {}
    server = serve(make_settings(**overrides))
    said = {
        "call_a": "Stuck behind a wreck near Tulsa, moving slowly.",
        "call_b": "Trailer 42 is loaded, leaving now.",
        "call_c": "All good, arriving on time.",
    }
    for call_id, text in said.items():
        server.store.upsert_call(
            Provider.RETELL, call_id, CallUpdate(transcript=[{"role": "user", "content": text}])
        )
    for query, expected in SEARCHES.items():
        response = httpx.get(
            server.url + "/api/v1/conversations", params={"query": query}, headers=auth()
        )
        assert response.status_code == 200, (query, response.text)
        found = sorted(item["provider_call_id"] for item in response.json()["items"])
        assert found == expected, query
        assert response.json()["total"] == len(expected)
    everything = httpx.get(server.url + "/api/v1/conversations", headers=auth()).json()
    assert everything["total"] == 3  # nothing was dropped or altered


# --- the bot's event intake ----------------------------------------------------------------------


def test_events_with_the_dispatch_key_instead_of_the_bots_are_refused(server: Any) -> None:
    response = traffic.post_pipecat(
        server.url, traffic.pipecat_summary("pc_wrong_key"), key=API_KEY
    )
    assert response.status_code == 401
    assert (
        traffic.count_rows(server.app.state.settings.database_url, "calllog", "pc_wrong_key") == 0
    )


# --- hostile JSON bodies and query strings, against every route of the OpenAPI spec ------------

HOSTILE_BODIES: dict[str, tuple[bytes, str]] = {
    # name: (raw body, Content-Type); each is refused with 422 before anything is read or written
    "overflowing float": (b'{"provider_call_id": "h1", "tokens": 1e309}', "application/json"),
    "NaN": (b'{"provider_call_id": "h1", "event_type": "x", "event_id": NaN}', "application/json"),
    "Infinity deep inside": (b'{"data": {"latency": {"p50": Infinity}}}', "application/json"),
    "-Infinity": (b'{"data": {"sentiment": -Infinity}}', "application/json"),
    "huge integer": (b'{"turns": {"user": ' + b"9" * 40 + b"}}", "application/json"),
    "integer past 4300 digits": (b'{"n": ' + b"7" * 5000 + b"}", "application/json"),
    "deep nesting": (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json"),
    "nesting past 32 levels": (b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", "application/json"),
    "duplicate keys": (b'{"driver_name": "A", "driver_name": "B"}', "application/json"),
    "invalid UTF-8": (b'{"driver_name": "\xff\xfe"}', "application/json"),
    "lone surrogate escape": (b'{"driver_name": "\\ud800"}', "application/json"),
    "not JSON": (b"{driver_name: A}", "application/json"),
    "form encoded": (b"driver_name=A&load_number=B", "application/x-www-form-urlencoded"),
    "plain text": (b'{"driver_name": "A"}', "text/plain"),
    "xml": (b"<call><driver_name>A</driver_name></call>", "application/xml"),
}  # fmt: skip


def spec_operations(server_url: str) -> list[tuple[str, str, list[str]]]:
    """(method, path with example path parameters, declared query parameter names) per route."""
    spec = httpx.get(server_url + "/openapi.json").json()
    operations = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            parameters = operation.get("parameters", [])
            concrete = path
            for parameter in parameters:
                if parameter["in"] == "path":
                    concrete = concrete.replace("{" + parameter["name"] + "}", "call_hostile")
            query = [p["name"] for p in parameters if p["in"] == "query"]
            operations.append((method.upper(), concrete, query))
    return operations


def credentials_for(path: str) -> dict[str, str]:
    key = PIPECAT_KEY if path == "/api/v1/pipecat/event" else API_KEY
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("name", HOSTILE_BODIES)
def test_hostile_bodies_get_422_naming_the_problem_on_every_route(server: Any, name: str) -> None:
    raw, content_type = HOSTILE_BODIES[name]
    before = all_rows(server)
    posted = 0
    for method, path, _ in spec_operations(server.url):
        if method != "POST":
            continue
        headers = {**credentials_for(path), "content-type": content_type}
        if path == "/api/v1/retell/webhook":
            headers["x-retell-signature"] = traffic.signed(raw.decode("utf-8", "replace"))[
                "x-retell-signature"
            ]
        response = httpx.post(server.url + path, content=raw, headers=headers)
        assert response.status_code == 422, (path, response.status_code, response.text)
        problem = response.json()["detail"][0]
        assert problem["loc"][0] == "body" and len(problem["msg"]) > 20, (path, problem)
        posted += 1
    assert posted >= 4  # the spec's POST routes were all reached
    assert all_rows(server) == before
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"


NON_FINITE_STRINGS = ["NaN", "Infinity", "-Infinity", "inf", "1e309"]


@pytest.mark.parametrize("value", NON_FINITE_STRINGS)
def test_non_finite_numbers_spelled_as_strings_are_refused_where_a_number_is_due(
    server: Any, value: str
) -> None:
    event = traffic.pipecat_summary("pc_nonfinite")
    event["data"]["duration_secs"] = value
    event["data"]["speaking_secs"] = {"bot": value}
    response = traffic.post_pipecat(server.url, event)
    assert response.status_code == 422, response.text
    assert {tuple(e["loc"][-2:]) for e in response.json()["detail"]} >= {("data", "duration_secs")}
    assert all_rows(server) == (0, 0)


def test_unknown_query_parameters_get_422_naming_the_parameter_on_every_route(
    server: Any,
) -> None:
    checked = 0
    for method, path, declared in spec_operations(server.url):
        if path == "/api/v1/retell/webhook":
            continue  # signed raw body first; covered below with a signature
        response = httpx.request(
            method,
            server.url + path,
            params={"q": "deer", "outcome": "delayed"},
            headers=credentials_for(path),
            json=START_BODY if method == "POST" else None,
        )
        assert response.status_code == 422, (method, path, response.text)
        named = {tuple(e["loc"]) for e in response.json()["detail"]}
        assert ("query", "q") in named and ("query", "outcome") in named, (path, named)
        assert "q" not in declared
        checked += 1
    assert checked >= 8
    assert all_rows(server) == (0, 0)


def test_declared_query_parameters_still_work_and_typos_are_named(server: Any) -> None:
    ok = httpx.get(
        server.url + "/api/v1/conversations",
        params={"query": "deer", "call_outcome": "delayed", "page": 1},
        headers=auth(),
    )
    assert ok.status_code == 200, ok.text
    typo = httpx.get(server.url + "/api/v1/conversations?page_sise=5", headers=auth())
    assert typo.status_code == 422
    assert "page_sise" in typo.json()["detail"][0]["msg"]
    assert "page_size" in typo.json()["detail"][0]["msg"]  # what it takes instead
