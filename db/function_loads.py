"""Loads, call slots, attempts and the webhook outbox through the SQL functions of
db/migrations/definitions/loads.sql: one implementation for PostgresStore (psycopg) and
SupabaseStore (PostgREST `.rpc()`), which differ only in how they call a function.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from db.load_models import (
    AttemptPlacement,
    AttemptRow,
    BoardFilters,
    BoardRow,
    ClaimedAttempt,
    Load,
    LoadIn,
    LoadPatch,
    LoadSlots,
    OpenAttempt,
    PlannedSlot,
    Settlement,
    SlotRow,
    WebhookDelivery,
)


class FunctionLoads:
    """The loads and scheduler part of the Store over SQL functions."""

    def _function(self, name: str, params: dict[str, Any], *, write: bool = False) -> Any:
        """Call `name(p_x => ...)` and return its JSON value (a backend implements this)."""
        raise NotImplementedError

    # -- loads -----------------------------------------------------------------------------

    def upsert_loads(self, loads: Sequence[LoadIn]) -> int:
        rows = [load.model_dump(mode="json") for load in loads]
        return self._function("upsert_loads", {"p_loads": rows}, write=True)

    def get_load(self, load_number: str) -> Load | None:
        row = self._function("get_load", {"p_load_number": load_number})
        return Load.model_validate(row) if row is not None else None

    def update_load(self, load_number: str, patch: LoadPatch) -> Load | None:
        row = self._function(
            "update_load",
            {
                "p_load_number": load_number,
                "p_patch": patch.model_dump(mode="json", exclude_none=True),
            },
            write=True,
        )
        return Load.model_validate(row) if row is not None else None

    # -- planning --------------------------------------------------------------------------

    def loads_to_plan(self, limit: int = 500) -> list[Load]:
        rows = self._function("loads_to_plan", {"p_limit": limit})
        return [Load.model_validate(row) for row in rows]

    def sync_loads_slots(self, plans: Sequence[LoadSlots]) -> int:
        params = {"p_plans": [plan.model_dump(mode="json") for plan in plans]}
        return self._function("sync_loads_slots", params, write=True)

    def add_call_slot(self, load_number: str, slot: PlannedSlot) -> bool:
        params = {"p_load_number": load_number, "p_slot": slot.model_dump(mode="json")}
        return bool(self._function("add_call_slot", params, write=True))

    # -- claiming and settling attempts ----------------------------------------------------

    def claim_due_slots(
        self,
        engine: str,
        now: datetime,
        *,
        limit: int,
        cap: int,
        owner: str,
        lease_secs: float,
        late_secs: float | None,
    ) -> list[ClaimedAttempt]:
        params = {
            "p_engine": engine,
            "p_now": now,
            "p_limit": limit,
            "p_cap": cap,
            "p_owner": owner,
            "p_lease_secs": lease_secs,
            "p_late_secs": late_secs,
        }
        rows = self._function("claim_due_slots", params, write=True)
        return [ClaimedAttempt.model_validate(row) for row in rows]

    def mark_attempts_placed(self, placements: Sequence[AttemptPlacement], now: datetime) -> int:
        params = {"p_placements": [p.model_dump() for p in placements], "p_now": now}
        return self._function("mark_attempts_placed", params, write=True)

    def open_attempts(
        self, now: datetime, stale_before: datetime, limit: int = 500
    ) -> list[OpenAttempt]:
        params = {"p_now": now, "p_stale_before": stale_before, "p_limit": limit}
        return [OpenAttempt.model_validate(row) for row in self._function("open_attempts", params)]

    def settle_attempt(self, attempt_id: int, settlement: Settlement, now: datetime) -> bool:
        params = {
            "p_attempt_id": attempt_id,
            "p_settlement": settlement.model_dump(mode="json"),
            "p_now": now,
        }
        return bool(self._function("settle_attempt", params, write=True))

    # -- reading for the board and the load page -------------------------------------------

    def load_attempts(self, load_number: str) -> list[AttemptRow]:
        rows = self._function("load_attempts", {"p_load_number": load_number})
        return [AttemptRow.model_validate(row) for row in rows]

    def load_slots(self, load_number: str) -> list[SlotRow]:
        rows = self._function("load_slots", {"p_load_number": load_number})
        return [SlotRow.model_validate(row) for row in rows]

    def dispatch_board(self, filters: BoardFilters) -> list[BoardRow]:
        params = {"p_filters": filters.model_dump(mode="json", exclude_none=True)}
        return [BoardRow.model_validate(row) for row in self._function("dispatch_board", params)]

    # -- webhook outbox --------------------------------------------------------------------

    def enqueue_finished_calls(self, target: str, since: datetime, now: datetime) -> int:
        params = {"p_target": target, "p_since": since, "p_now": now}
        return self._function("enqueue_finished_calls", params, write=True)

    def claim_webhooks(
        self, target: str, now: datetime, *, limit: int, lease_secs: float
    ) -> list[WebhookDelivery]:
        params = {"p_target": target, "p_now": now, "p_limit": limit, "p_lease_secs": lease_secs}
        rows = self._function("claim_webhooks", params, write=True)
        return [WebhookDelivery.model_validate(row) for row in rows]

    def settle_webhook(
        self,
        delivery_id: int,
        state: str,
        now: datetime,
        *,
        retry_at: datetime | None,
        status: int | None,
        error: str | None,
    ) -> None:
        params = {
            "p_id": delivery_id,
            "p_state": state,
            "p_now": now,
            "p_retry_at": retry_at,
            "p_status": status,
            "p_error": error,
        }
        self._function("settle_webhook", params, write=True)
