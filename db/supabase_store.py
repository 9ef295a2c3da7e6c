"""Supabase backend (supabase-py over PostgREST, with the service role key).

Every operation is one `.rpc()` call to a SQL function from db/migrations, the same functions
PostgresStore calls: aggregates and search run in the database, lists page with page arguments,
the export walks a keyset in batches, and nothing ever downloads rows to aggregate in Python
(PostgREST caps a response at 1,000 rows). The schema is applied with the same migration files
(Supabase SQL editor, or `python -m db migrate` with DATABASE_URL set to the project's
connection string), because PostgREST cannot run DDL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
from postgrest.exceptions import APIError
from pydantic_core import to_jsonable_python
from supabase import ClientOptions, create_client

from agent.vocabulary import EscalationStatus
from db.function_bot_sessions import FunctionBotSessions
from db.function_loads import FunctionLoads
from db.function_payloads import (
    check_call_key,
    check_name,
    check_page,
    check_sort,
    figure_filters_json,
    filters_json,
    update_json,
)
from db.histogram import MAX_BINS, NICE_WIDTHS_SECS, histogram_from
from db.migration_runner import migration_files
from db.models import (
    AlertLogEntry,
    Call,
    CallFilters,
    CallMetrics,
    CallPage,
    CallUpdate,
    EmergencyAlert,
    EmergencyAlertPage,
    Event,
    LatencyDay,
    PipecatMetrics,
    Provider,
    SortKey,
)
from db.office_days import zone_named
from db.store import NotMigrated, StoreAuthError, StoreError, StoreUnavailable, WriteFailed

INSERT_BATCH_ROWS = 500  # calls per insert_calls request (keeps request bodies small)
NOT_FOUND_CODES = {"PGRST202", "PGRST205", "42883", "42P01"}  # function / table missing
MIGRATE_HINT = (
    "apply db/migrations/*.sql to the Supabase project (SQL editor, or run "
    "`python -m db migrate` with DATABASE_URL set to the project's connection string)"
)


class SupabaseStore(FunctionLoads, FunctionBotSessions):
    backend = "supabase"

    def __init__(
        self,
        url: str,
        service_role_key: str,
        *,
        timeout_secs: float = 30.0,
        office_timezone: str = "UTC",
    ) -> None:
        self._url = url.rstrip("/")
        self.office_zone = zone_named(office_timezone)
        self._key = service_role_key
        # Each thread's last HTTP status: supabase-py's APIError does not carry it.
        self._last_status = threading.local()
        self._http = httpx.Client(
            timeout=timeout_secs, event_hooks={"response": [self._remember_status]}
        )
        self._client = create_client(
            self._url,
            service_role_key,
            ClientOptions(httpx_client=self._http, auto_refresh_token=False),
        )

    def _remember_status(self, response: httpx.Response) -> None:
        self._last_status.code = response.status_code

    # -- calling the SQL functions -------------------------------------------------------------

    def _rpc(self, function: str, params: dict[str, Any], *, write: bool = False) -> Any:
        self._last_status.code = None
        try:
            return self._client.rpc(function, params).execute().data
        except APIError as exc:
            raise self._typed_error(exc, getattr(self._last_status, "code", None), write) from None
        except httpx.HTTPError as exc:
            raise StoreUnavailable(
                f"Cannot reach Supabase at SUPABASE_URL={self._url}: {type(exc).__name__}: {exc}"
                ". Check the URL and the network."
            ) from None

    def _typed_error(self, exc: APIError, status: int | None, write: bool) -> StoreError:
        message = (exc.message or "").replace(self._key, "***")
        detail = f"HTTP {status}, {exc.code}: {message}" if status else f"{exc.code}: {message}"
        if status in (401, 403) or exc.code in ("42501", "PGRST301", "PGRST302"):
            return StoreAuthError(
                f"Supabase refused SUPABASE_SERVICE_ROLE_KEY ({detail}). Set it to the project's "
                "service_role key (Project Settings > API), not the anon key."
            )
        if exc.code in NOT_FOUND_CODES:
            return NotMigrated(
                f"The Supabase schema is missing or behind ({detail}): {MIGRATE_HINT}."
            )
        if status is None or status >= 500 or (exc.code or "").startswith(("08", "53", "PGRST0")):
            return StoreUnavailable(f"Supabase at SUPABASE_URL={self._url} failed ({detail}).")
        if write:
            return WriteFailed(f"Supabase rejected the write and kept nothing ({detail}).")
        return StoreError(f"Supabase query failed ({detail}).")

    def _figure(self, filters: CallFilters) -> dict[str, Any]:
        return figure_filters_json(filters, self.office_zone.key)

    def _function(self, name: str, params: dict[str, Any], *, write: bool = False) -> Any:
        return self._rpc(name, to_jsonable_python(params), write=write)

    # -- schema ----------------------------------------------------------------------------

    def _pending_migrations(self) -> list[str]:
        applied = set(self._rpc("dispatch_schema_version", {}) or [])
        return [path.name for path in migration_files() if path.name not in applied]

    def migrate(self) -> list[str]:
        """PostgREST cannot run DDL: succeed (nothing applied) when current, else say how. Keys
        the daily rollups on days in the office's zone (rebuilt when keyed to another)."""
        self.check()
        self._rpc("dispatch_key_rollups_to", {"p_zone": self.office_zone.key}, write=True)
        return []

    def check(self) -> None:
        pending = self._pending_migrations()
        if pending:
            raise NotMigrated(
                f"The Supabase schema lacks migrations {', '.join(pending)}: {MIGRATE_HINT}."
            )

    # -- writes ----------------------------------------------------------------------------

    def ensure_driver(self, name: str, phone: str | None = None) -> int:
        name = check_name(name, "driver")
        return self._rpc("ensure_driver", {"p_name": name, "p_phone": phone}, write=True)

    def ensure_agent(self, provider: Provider, name: str, external_id: str | None = None) -> int:
        name = check_name(name, "agent")
        params = {
            "p_provider": Provider(provider).value,
            "p_name": name,
            "p_external_id": external_id,
        }
        return self._rpc("ensure_agent", params, write=True)

    def upsert_call(self, provider: Provider, provider_call_id: str, update: CallUpdate) -> Call:
        check_call_key(provider_call_id)
        params = {
            "p_provider": Provider(provider).value,
            "p_provider_call_id": provider_call_id,
            "p_patch": update_json(update),
        }
        return Call.model_validate(self._rpc("upsert_call", params, write=True))

    def save_transcript(
        self, provider: Provider, provider_call_id: str, transcript: list[dict[str, str]]
    ) -> None:
        self.upsert_call(provider, provider_call_id, CallUpdate(transcript=transcript))

    def record_event(self, event: Event) -> bool:
        params = {
            "p_provider": event.provider.value,
            "p_provider_call_id": event.provider_call_id,
            "p_event_type": event.event_type,
            "p_idempotency_key": event.idempotency_key,
            "p_payload": event.model_dump(mode="json")["payload"],
        }
        return bool(self._rpc("record_event", params, write=True))

    # -- emergencies -----------------------------------------------------------------------

    def set_escalation_status(
        self, provider: Provider, provider_call_id: str, status: EscalationStatus
    ) -> bool:
        params = {
            "p_provider": Provider(provider).value,
            "p_provider_call_id": provider_call_id,
            "p_status": EscalationStatus(status).value,
        }
        return bool(self._rpc("set_escalation_status", params, write=True))

    def raise_emergency_alert(self, provider: Provider, provider_call_id: str) -> bool:
        params = {"p_provider": Provider(provider).value, "p_provider_call_id": provider_call_id}
        return bool(self._rpc("raise_emergency_alert", params, write=True))

    def open_emergency_alerts(self, *, limit: int = 20) -> EmergencyAlertPage:
        return EmergencyAlertPage.model_validate(
            self._rpc("open_emergency_alerts", {"p_limit": limit})
        )

    def acknowledge_emergency_alert(self, alert_id: int, by: str) -> EmergencyAlert | None:
        if not (by or "").strip():
            raise WriteFailed("Who acknowledges the alert must be named.")
        row = self._rpc(
            "acknowledge_emergency_alert", {"p_alert_id": alert_id, "p_by": by.strip()}, write=True
        )
        return EmergencyAlert.model_validate(row) if row is not None else None

    def emergency_alert_log(self, provider: Provider, provider_call_id: str) -> list[AlertLogEntry]:
        params = {"p_provider": Provider(provider).value, "p_provider_call_id": provider_call_id}
        rows = self._rpc("emergency_alert_log", params) or []
        return [AlertLogEntry.model_validate(row) for row in rows]

    def bulk_insert_calls(self, rows: Iterable[tuple[Provider, str, CallUpdate]]) -> int:
        """Batches of INSERT_BATCH_ROWS through insert_calls; existing calls are left alone."""
        written = 0
        batch: list[dict[str, Any]] = []
        for provider, provider_call_id, update in rows:
            check_call_key(provider_call_id)
            batch.append(
                {
                    "provider": Provider(provider).value,
                    "provider_call_id": provider_call_id,
                    **update_json(update),
                }
            )
            if len(batch) >= INSERT_BATCH_ROWS:
                written += self._rpc("insert_calls", {"p_calls": batch}, write=True)
                batch = []
        if batch:
            written += self._rpc("insert_calls", {"p_calls": batch}, write=True)
        return written

    # -- reads -----------------------------------------------------------------------------

    def get_call(self, provider_call_id: str, provider: Provider | None = None) -> Call | None:
        params = {
            "p_provider_call_id": provider_call_id,
            "p_provider": Provider(provider).value if provider else None,
        }
        row = self._rpc("get_call", params)
        return Call.model_validate(row) if row is not None else None

    def search_calls(
        self,
        filters: CallFilters,
        *,
        sort: SortKey = "-created_at",
        page: int = 1,
        page_size: int = 50,
    ) -> CallPage:
        check_sort(sort)
        check_page(page, page_size)
        params = {
            "p_filters": filters_json(filters),
            "p_sort": sort,
            "p_page": page,
            "p_page_size": page_size,
        }
        return CallPage.model_validate(self._rpc("search_calls", params))

    def iter_calls(self, filters: CallFilters, *, batch_size: int = 1000) -> Iterator[Call]:
        check_page(1, batch_size)
        params: dict[str, Any] = {
            "p_filters": filters_json(filters),
            "p_after_created_at": None,
            "p_after_id": None,
            "p_limit": batch_size,
        }
        while True:
            batch = self._rpc("export_calls", params)
            for row in batch:
                yield Call.model_validate(row)
            if len(batch) < batch_size:
                return
            params["p_after_created_at"] = batch[-1]["created_at"]
            params["p_after_id"] = batch[-1]["id"]

    def on_time_counts(self, filters: CallFilters) -> dict[str, int]:
        params = {"p_filters": self._figure(filters)}
        return dict(self._rpc("on_time_counts", params) or {})

    def retell_metrics(self, filters: CallFilters) -> CallMetrics:
        result = self._rpc("retell_metrics", {"p_filters": self._figure(filters)})
        return CallMetrics.model_validate(result)

    def latency_trend(self, filters: CallFilters) -> list[LatencyDay]:
        result = self._rpc("latency_trend", {"p_filters": self._figure(filters)})
        return [LatencyDay.model_validate(day) for day in result]

    def duration_histogram(
        self, filters: CallFilters, *, max_bins: int = MAX_BINS
    ) -> list[dict[str, float | int]]:
        params = {
            "p_filters": self._figure(filters),
            "p_widths": list(NICE_WIDTHS_SECS),
            "p_max_bins": max_bins,
        }
        return histogram_from(self._rpc("duration_histogram", params))

    def pipecat_metrics(
        self, filters: CallFilters, *, page: int = 1, page_size: int = 50
    ) -> PipecatMetrics:
        check_page(page, page_size)
        params = {
            "p_filters": self._figure(filters),
            "p_page": page,
            "p_page_size": page_size,
        }
        return PipecatMetrics.model_validate(self._rpc("pipecat_metrics", params))

    def close(self) -> None:
        self._http.close()
