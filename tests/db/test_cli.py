"""`python -m db ...` as `make run` uses it, on the SQLite file DATABASE_URL names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from db.models import CallFilters, Provider
from db.sqlite_store import SqliteStore
from tests.conftest import ROOT


def run_db(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def database_path() -> Path:
    return Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))


def test_migrate_creates_the_database_and_is_idempotent() -> None:
    first = run_db("migrate")
    assert first.returncode == 0, first.stderr
    assert "Applied 0001_initial" in first.stdout
    assert database_path().exists()
    second = run_db("migrate")
    assert second.returncode == 0 and "Up to date" in second.stdout
    assert run_db("check").returncode == 0


def test_check_and_seed_on_an_unmigrated_database_say_to_migrate() -> None:
    for command in (("check",), ("seed", "--calls", "5")):
        done = run_db(*command)
        assert done.returncode == 1
        assert "python -m db migrate" in done.stderr


def test_an_unsupported_database_url_is_named_in_the_error() -> None:
    done = run_db("migrate", database_url="mysql://localhost/dispatch")
    assert done.returncode == 1
    assert "DATABASE_URL" in done.stderr and "sqlite:///" in done.stderr


def test_seed_writes_the_requested_calls_and_if_empty_leaves_them_alone() -> None:
    assert run_db("migrate").returncode == 0
    seeded = run_db("seed", "--calls", "200")
    assert seeded.returncode == 0, seeded.stderr
    assert "Seeded 200 calls" in seeded.stdout
    store = SqliteStore(database_path())
    first_ids = [c.provider_call_id for c in store.iter_calls(CallFilters())]
    assert len(first_ids) == 200
    assert store.search_calls(CallFilters(provider=Provider.RETELL)).total > 0
    assert store.search_calls(CallFilters(provider=Provider.PIPECAT)).total > 0

    again = run_db("seed", "--calls", "200", "--if-empty")
    assert again.returncode == 0 and "already has calls" in again.stdout
    assert [c.provider_call_id for c in store.iter_calls(CallFilters())] == first_ids
    store.close()


def test_seed_rejects_a_negative_count() -> None:
    done = run_db("seed", "--calls", "-1")
    assert done.returncode == 2 and "--calls" in done.stderr
