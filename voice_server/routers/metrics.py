"""`GET /api/v1/metrics`: the Retell summary (totals, averages, emergencies, delays, per day)."""

from __future__ import annotations

from fastapi import APIRouter

from db.models import CallMetrics
from voice_server.deps import CallFiltersDep, DispatchKeyDep, StoreDep

router = APIRouter(tags=["metrics"])


@router.get("/api/v1/metrics")
def retell_metrics(_auth: DispatchKeyDep, store: StoreDep, filters: CallFiltersDep) -> CallMetrics:
    """Aggregates over the matching calls; `provider` defaults to retell."""
    return store.retell_metrics(filters)
