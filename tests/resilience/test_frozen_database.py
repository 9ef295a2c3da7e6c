"""A frozen PostgreSQL (SIGSTOP: it accepts TCP and never answers) on a cluster of our own.

Every database call has a deadline, the greeting never waits on the database, webhooks are
answered inside Retell's 10 s (their writes wait in the outbox), /healthz says degraded while
the first stuck write is still stuck and its probe never piles up, and everything lands once
the cluster runs again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from db import StoreUnavailable
from db.models import CallStatus, CallUpdate, Provider
from db.postgres_store import PostgresStore
from tests.resilience.conftest import PrivatePostgres, eventually, read_call, running_cluster
from tests.resilience.traffic import count_rows, retell_call, signed, webhook_body

RETELL_WEBHOOK_TIMEOUT_SECS = 10


@pytest.fixture
def own_cluster() -> Iterator[PrivatePostgres]:
    """A cluster only this test freezes (the session's shared one stays untouched)."""
    with running_cluster() as cluster:
        try:
            yield cluster
        finally:
            thaw(cluster)


def cluster_pids(cluster: PrivatePostgres) -> list[int]:
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    return [postmaster, *map(int, children)]


def freeze(cluster: PrivatePostgres) -> None:
    for pid in cluster_pids(cluster):
        os.kill(pid, signal.SIGSTOP)


def thaw(cluster: PrivatePostgres) -> None:
    try:
        pids = cluster_pids(cluster)
    except (OSError, ValueError):
        return
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


@contextmanager
def frozen(cluster: PrivatePostgres) -> Iterator[None]:
    freeze(cluster)
    try:
        yield
    finally:
        thaw(cluster)


def test_every_postgres_call_has_a_deadline_on_a_frozen_server(own_cluster):
    store = PostgresStore(
        own_cluster.create_database(), connect_timeout=2, statement_timeout_secs=1
    )
    store.migrate()
    store.upsert_call(Provider.RETELL, "c1", CallUpdate(load_number="LD-1"))  # a pooled conn
    with frozen(own_cluster), ThreadPoolExecutor(2) as pool:
        # A query on an open connection, and a connection opened while frozen: both fail as
        # unavailable (the outer timeout only keeps a regression from hanging the suite).
        on_open = pool.submit(store.get_call, "c1")
        with pytest.raises(StoreUnavailable):
            on_open.result(timeout=30)
        fresh = PostgresStore(store._database_url, connect_timeout=2)  # noqa: SLF001
        with pytest.raises(StoreUnavailable):
            pool.submit(fresh.check).result(timeout=30)
    assert store.get_call("c1").load_number == "LD-1"  # and it works again, thawed
    store.close()


async def test_a_frozen_database_never_holds_a_webhook_greeting_or_health_check(
    serve: Callable[..., Any],
    make_settings: Callable[..., Any],
    own_cluster: PrivatePostgres,
    tmp_path: Path,
) -> None:
    database_url = own_cluster.create_database()
    settings = make_settings(database_url=database_url, outbox_path=str(tmp_path / "ob.jsonl"))
    store = PostgresStore(database_url, connect_timeout=2, statement_timeout_secs=3)
    server = serve(settings, store=store)
    await retell_call(server.url, "call_before")  # connections pooled, all healthy

    with frozen(own_cluster):
        bodies = [webhook_body(f"call_frozen_{n}") for n in range(4)]
        with ThreadPoolExecutor(4) as pool:
            hooks = [
                pool.submit(
                    httpx.post,
                    f"{server.url}/api/v1/retell/webhook",
                    content=body.encode(),
                    headers=signed(body),
                    timeout=RETELL_WEBHOOK_TIMEOUT_SECS,  # Retell gives up after this
                )
                for body in bodies
            ]
            # A second after the first write got stuck, /healthz says so; ten checks at once
            # start one probe, never ten threads blocked on the frozen server.
            await asyncio.sleep(1.2)
            first = httpx.get(server.url + "/healthz", timeout=5).json()
            with ThreadPoolExecutor(10) as checks:
                states = list(
                    checks.map(lambda _: httpx.get(server.url + "/healthz", timeout=5), range(10))
                )
            probes = [t for t in threading.enumerate() if t.name.startswith("health-probe")]
            answers = [hook.result() for hook in hooks]
        assert first["status"] == "degraded" and first["database"] in {"unavailable", "stuck"}
        assert {state.json()["status"] for state in states} == {"degraded"}
        assert len(probes) <= 1
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        # A new call is greeted by name from call_details, without the database.
        caller = await retell_call(server.url, "call_frozen_socket", turns=())
        assert "Maria" in caller.begin.text
        assert any(t.name.startswith("voice-db") for t in threading.enumerate())

    await eventually(lambda: httpx.get(server.url + "/healthz").json()["status"] == "ok", 45)
    for n in range(4):
        assert count_rows(database_url, "call_events", f"call_frozen_{n}") == 1
        assert read_call(database_url, f"call_frozen_{n}").driver_name == "Ana Ruiz"
    socket_call = await eventually(lambda: read_call(database_url, "call_frozen_socket"))
    assert socket_call.status == CallStatus.ENDED
    assert socket_call.transcript[0]["content"] == caller.begin.text
    await asyncio.sleep(0)
