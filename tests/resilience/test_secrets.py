"""Secrets (API keys, the database password, the Supabase key) never reach logs or answers,
even while the database is down and errors are being reported."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.resilience import traffic
from tests.resilience.conftest import PrivatePostgres, ServerProcess, eventually, server_env


def fresh_keys() -> dict[str, str]:
    return {
        "DISPATCH_API_KEY": f"dk_{secrets.token_hex(16)}",
        "PIPECAT_API_KEY": f"pk_{secrets.token_hex(16)}",
        "RETELL_API_KEY": f"key_{secrets.token_hex(16)}",
    }


async def exercise(server: ServerProcess, keys: dict[str, str]) -> list[str]:
    """Every kind of request, right and wrong; returns every answer's text."""
    bearer = {"Authorization": f"Bearer {keys['DISPATCH_API_KEY']}"}
    answers = []
    for path in ("/healthz", "/api/v1/calls/nope", "/api/v1/conversations", "/api/v1/metrics"):
        for headers in (bearer, {"Authorization": "Bearer wrong"}, {}):
            answers.append(httpx.get(server.url + path, headers=headers, timeout=15).text)
    body = traffic.webhook_body(f"call_{secrets.token_hex(4)}")
    answers.append(
        traffic.post_webhook(server.url, body, traffic.signed(body, keys["RETELL_API_KEY"])).text
    )
    answers.append(traffic.post_webhook(server.url, body, traffic.signed(body, "key_wrong")).text)
    event = traffic.pipecat_summary(f"pc_{secrets.token_hex(4)}")
    answers.append(traffic.post_pipecat(server.url, event, keys["PIPECAT_API_KEY"]).text)
    answers.append(traffic.post_pipecat(server.url, event, "wrong").text)
    bad_start = {"vendor": "retell", "mode": "phone", "driver_name": "X", "load_number": "1"}
    answers.append(
        httpx.post(f"{server.url}/api/v1/calls/start", json=bad_start, headers=bearer).text
    )
    caller = await traffic.retell_call(server.url, f"call_{secrets.token_hex(4)}")
    answers.append(repr(caller.transcript))
    return answers


def assert_nowhere(secret_values: list[str], texts: list[str]) -> None:
    for secret in secret_values:
        for text in texts:
            assert secret not in text, (
                f"a secret leaked: ...{text[max(0, text.find(secret) - 200) :][:400]}"
            )


async def test_keys_and_the_database_password_stay_out_of_logs_and_answers(
    spawn_server: Callable[..., ServerProcess], private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    keys = fresh_keys()
    database_url = private_postgres.create_database()
    server = spawn_server(server_env(database_url, tmp_path / "outbox.jsonl", **keys))
    answers = await exercise(server, keys)
    private_postgres.stop()  # errors now name the database: they must not name its password
    try:
        answers += await exercise(server, keys)
        assert httpx.get(server.url + "/healthz").json()["status"] == "degraded"
    finally:
        private_postgres.start()
    await eventually(lambda: httpx.get(server.url + "/healthz").json()["status"] == "ok", 30)
    server.stop()
    log = server.output()
    assert "unavailable" in log.lower() or "outbox" in log  # the outage was logged...
    assert_nowhere([*keys.values(), private_postgres.password], [log, *answers])  # ...safely


async def test_the_supabase_key_stays_out_of_logs_and_answers(
    spawn_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    keys = fresh_keys()
    supabase_key = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0." + secrets.token_hex(20)
    env = server_env(
        "sqlite:///unused.db",
        tmp_path / "outbox.jsonl",
        SUPABASE_URL=f"http://127.0.0.1:{free_port()}",  # nobody listens: every call fails
        SUPABASE_SERVICE_ROLE_KEY=supabase_key,
        **keys,
    )
    server = spawn_server(env)
    answers = await asyncio.wait_for(exercise(server, keys), 120)
    health = httpx.get(server.url + "/healthz").json()
    assert health["backend"] == "supabase" and health["status"] == "degraded"
    server.stop()
    assert_nowhere([*keys.values(), supabase_key], [server.output(), *answers])
