"""`GET /healthz` (no auth): the server is up; the database is ok or degraded."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request

from db import NotMigrated, StoreError

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECS = 3.0


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    """200 while the server runs; `status` is `degraded` when the database is not usable.

    Writes wait and retry while degraded, so a load balancer should keep the server in rotation;
    the reason is a category, never a connection string. `transfer_line` is `missing` when no
    DISPATCH_TRANSFER_NUMBER is set (emergencies then get a callback, not a transfer).
    """
    store = getattr(request.app.state, "store", None)
    database = "ok"
    if store is None:
        database = "not open"
    else:
        try:
            await asyncio.wait_for(asyncio.to_thread(store.check), CHECK_TIMEOUT_SECS)
        except NotMigrated:
            database = "not migrated: run `python -m db migrate`"
        except (StoreError, TimeoutError) as exc:
            log.warning("health check: database unavailable: %s", exc)
            database = "unavailable"
    # Writes waiting in the outbox have not reached the database yet: degraded until they do.
    outbox_depth = getattr(store, "depth", 0)
    settings = getattr(request.app.state, "settings", None)
    return {
        "status": "ok" if database == "ok" and not outbox_depth else "degraded",
        "database": database,
        "backend": getattr(store, "backend", None),
        "outbox_depth": outbox_depth,
        # Without a transfer line emergencies are called back, never transferred: visible here
        # so a deployment that meant to have one notices (the server stays "ok" either way).
        "transfer_line": "configured"
        if settings is not None and settings.dispatch_transfer_number
        else "missing",
    }
