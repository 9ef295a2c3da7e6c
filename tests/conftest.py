"""Fixtures shared by every test folder."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from bench.processes import free_port as free_port  # what the tests import from here

ROOT = Path(__file__).resolve().parent.parent
CLOUD_PREFIXES = ("RETELL_", "SUPABASE_", "OPENAI_", "DEEPGRAM_", "CARTESIA_", "TWILIO_")

# `make test` (and so CI) tries the same generated cases every run, so a red run is a real,
# reproducible failure; HYPOTHESIS_PROFILE=explore searches new cases, as worth doing locally.
hypothesis_settings.register_profile("repeatable", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def without_cloud_keys(environment: Mapping[str, str]) -> dict[str, str]:
    """`environment` minus every cloud service's variables: for the processes a test starts
    before `_isolated_environment` runs (module-scoped fixtures)."""
    return {key: value for key, value in environment.items() if not key.startswith(CLOUD_PREFIXES)}


async def eventually(check: Callable[[], Any], timeout: float = 20, every: float = 0.05) -> Any:
    """Poll `check` (in a thread) until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(check)
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s; last value: {last!r}")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the developer's `.env` nor write into `data/`."""
    from settings import Settings, get_settings

    monkeypatch.setitem(Settings.model_config, "env_file", None)
    monkeypatch.setenv("DISPATCH_ENV_FILE", "")  # subprocesses started by tests skip `.env` too
    for name in list(os.environ):
        if name.startswith(CLOUD_PREFIXES) or name in {
            "DATABASE_URL",
            "DISPATCH_API_KEY",
            "PIPECAT_API_KEY",
            "AGENT_LLM",
            "DISPATCH_TRANSFER_NUMBER",
            "DISPATCH_ALERT_WEBHOOK_URL",
            "DISPATCH_ALERT_WEBHOOK_SECRET",
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'dispatch.db'}")
    monkeypatch.setenv("PIPECAT_SPOOL_PATH", str(tmp_path / "pipecat_spool.jsonl"))
    monkeypatch.setenv("OUTBOX_PATH", str(tmp_path / "outbox.jsonl"))
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty PostgreSQL databases (dropped at the end of the session).

    Uses TEST_POSTGRES_URL (an admin connection; `make test` starts the server and sets it).
    Without a reachable server the test is skipped, unless REQUIRE_POSTGRES=1 (CI), where it fails.
    """
    import psycopg

    admin_url = os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://dispatch:dispatch@127.0.0.1:5432/postgres"
    )
    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unreachable at TEST_POSTGRES_URL: {exc}")
        pytest.skip(f"no PostgreSQL server: {exc}")

    created: list[str] = []

    def make() -> str:
        name = f"dispatch_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return admin_url.rsplit("/", 1)[0] + f"/{name}"

    yield make

    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
