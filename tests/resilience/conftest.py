"""Voice servers as real processes (to kill and restart), a private PostgreSQL to stop, and
the helpers every resilience test shares. In-process servers come from tests/voice_server."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from db import open_store
from db.models import Call, Provider
from db.sqlite_store import SqliteStore
from settings import load_settings
from tests.conftest import ROOT, eventually, free_port  # noqa: F401  (eventually re-exported)
from tests.voice_server.conftest import (  # noqa: F401  (fixtures re-exported for this folder)
    API_KEY,
    RETELL_KEY,
    make_settings,
    serve,
)

PIPECAT_KEY = "test-pipecat-key-0123456789"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


@contextmanager
def sqlite_write_locked(path: Path) -> Iterator[None]:
    """Another writer holds SQLite's write lock (readers still read: WAL)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@pytest.fixture
def serve_unwritable(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[..., tuple[Any, Any, Path]]:
    """`serve_unwritable(**settings)` -> (server, settings, blocked): an in-process server whose
    outbox cannot append (its folder is the file `blocked`; unlink it to give the disk back), on a
    SQLite store that gives up after 0.2 s on a database `sqlite_write_locked` holds."""
    serve_app = request.getfixturevalue("serve")
    settings_of = request.getfixturevalue("make_settings")

    def start(**overrides: Any) -> tuple[Any, Any, Path]:
        blocked = tmp_path / "outbox-folder"
        blocked.write_text("a file where the outbox's folder should be: every append fails")
        settings = settings_of(outbox_path=str(blocked / "outbox.jsonl"), **overrides)
        store = SqliteStore(settings.sqlite_path, busy_timeout_secs=0.2)
        return serve_app(settings, store=store), settings, blocked

    return start


class ServerProcess:
    """`uvicorn voice_server.main:app` in its own process, configured through the environment."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ServerProcess:
        command = [sys.executable, "-m", "uvicorn", "voice_server.main:app"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "info"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"voice server exited at start:\n{self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"voice server did not answer /healthz:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no finalization, as a crashed host would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def server_env(database_url: str, outbox_path: Path, **extra: str) -> dict[str, str]:
    """Only what the voice server needs; the developer's `.env` is not read at all."""
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TZ"}}
    env.update(
        DATABASE_URL=database_url,
        OUTBOX_PATH=str(outbox_path),
        DISPATCH_API_KEY=API_KEY,
        RETELL_API_KEY=RETELL_KEY,
        RETELL_VERIFY_CALL_IDS="false",  # Retell's API is not reachable from tests
        PIPECAT_API_KEY=PIPECAT_KEY,
        AGENT_LLM="rules",
        PYTHONUNBUFFERED="1",
        DISPATCH_ENV_FILE="",  # never the developer's `.env`
        SUPABASE_URL="",
        SUPABASE_SERVICE_ROLE_KEY="",
    )
    env.update(extra)
    return env


@pytest.fixture
def spawn_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`spawn_server(env, port=None)` -> a started server process; all stopped after the test."""
    started: list[ServerProcess] = []

    def spawn(env: dict[str, str], port: int | None = None) -> ServerProcess:
        server = ServerProcess(env, tmp_path / f"server-{len(started)}.log", port)
        started.append(server)
        return server.start()

    yield spawn
    for server in started:
        server.stop()


class PrivatePostgres:
    """A PostgreSQL 15 cluster of our own (initdb + pg_ctl as the postgres user) that a test
    may stop and start without disturbing the server other tests share."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="resilience_pg_", dir="/tmp"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = secrets.token_urlsafe(18)
        shutil.chown(self.root, "postgres", "postgres")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stdout}\n{result.stderr}")

    def init(self) -> PrivatePostgres:
        password_file = self.root / "pw"
        password_file.write_text(self.password)
        shutil.chown(password_file, "postgres", "postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "scram-sha-256",
            f"--pwfile={password_file}", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        password_file.unlink()
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
            "-w", "-o", options, "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self) -> str:
        import psycopg

        name = f"dispatch_{secrets.token_hex(4)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def destroy(self) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data),
             "-m", "immediate", "stop"],
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running_cluster() -> Iterator[PrivatePostgres]:
    """A started PrivatePostgres, destroyed afterwards (the test skips where one cannot run)."""
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL 15 binaries or runuser not available")
    cluster = PrivatePostgres().init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    with running_cluster() as cluster:
        yield cluster


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


def pipecat_auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {PIPECAT_KEY}"}


def read_call(database_url: str, call_id: str, provider: Provider = Provider.RETELL) -> Call | None:
    """The call as a fresh connection to the database sees it (no server in between)."""
    store = open_store(load_settings(database_url=database_url))
    try:
        return store.get_call(call_id, provider)
    finally:
        store.close()
