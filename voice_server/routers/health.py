"""`GET /healthz` (no auth): the server is up; the database is ok or degraded; 503 while
something acknowledged is held in memory only (neither the database nor the outbox took it)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request, Response

from db import NotMigrated, Store, StoreError

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)

PROBE_WAIT_SECS = 1.0


class DatabaseProbe:
    """`store.check()` on a thread of its own, one probe at a time: while one is stuck on a
    frozen database, later health checks report it instead of starting (and stacking) more."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._thread = ThreadPoolExecutor(1, "health-probe")
        self._probe: asyncio.Future[None] | None = None

    async def state(self) -> str:
        if self._probe is None or self._probe.done():
            loop = asyncio.get_running_loop()
            self._probe = loop.run_in_executor(self._thread, self.store.check)
            self._probe.add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(self._probe), PROBE_WAIT_SECS)
        except NotMigrated:
            return "not migrated: run `python -m db migrate`"
        except TimeoutError:
            return "unavailable"
        except StoreError as exc:
            log.warning("health check: database unavailable: %s", exc)
            return "unavailable"
        return "ok"

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


def _retrieve(probe: asyncio.Future[None]) -> None:
    if not probe.cancelled():
        probe.exception()  # a probe nobody awaited any more must not log "never retrieved"


@router.get("/healthz")
async def healthz(request: Request, response: Response) -> dict[str, Any]:
    """200 while the server runs; `status` is `degraded` when the database is not usable, is
    stuck, or writes wait in the outbox; 503 (`status: failing`) while a finished call is held
    only in memory because neither the database nor the outbox takes writes.

    Writes wait and retry while degraded, so a load balancer should keep the server in rotation;
    the reason is a category, never a connection string. `transfer_line` is `missing` when no
    DISPATCH_TRANSFER_NUMBER is set (emergencies then get a callback, not a transfer).
    """
    state = request.app.state
    store = getattr(state, "store", None)
    probe: DatabaseProbe | None = getattr(state, "database_probe", None)
    database = "not open" if probe is None else await probe.state()
    if database == "ok" and getattr(store, "stuck", False):
        database = "stuck"
    # Writes waiting in the outbox have not reached the database yet: degraded until they do.
    outbox_depth = getattr(store, "depth", 0)
    settings = getattr(request.app.state, "settings", None)
    unsaved = len(getattr(state, "unsaved_calls", ()))
    status = "ok" if database == "ok" and not outbox_depth else "degraded"
    if unsaved:
        status = "failing"
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return {
        "status": status,
        "database": database,
        "backend": getattr(store, "backend", None),
        "outbox_depth": outbox_depth,
        # Without a transfer line emergencies are called back, never transferred: visible here
        # so a deployment that meant to have one notices (the server stays "ok" either way).
        "transfer_line": "configured"
        if settings is not None and settings.dispatch_transfer_number
        else "missing",
        "unsaved_calls": unsaved,
    }
