"""The Store over the SQL functions of db/migrations: one implementation for PostgresStore
(psycopg) and SupabaseStore (PostgREST `.rpc()`), which differ only in how they call a function
(`_function`), apply the schema, bulk-load calls and close.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

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
from db.store import WriteFailed


class FunctionStore(FunctionLoads, FunctionBotSessions):
    """Every Store method that is one SQL function call (a backend sets `office_zone`)."""

    office_zone: ZoneInfo

    def _figure(self, filters: CallFilters) -> dict[str, Any]:
        return figure_filters_json(filters, self.office_zone.key)

    # -- writes ----------------------------------------------------------------------------

    def ensure_driver(self, name: str, phone: str | None = None) -> int:
        params = {"p_name": check_name(name, "A driver"), "p_phone": phone}
        return self._function("ensure_driver", params, write=True)

    def ensure_agent(self, provider: Provider, name: str, external_id: str | None = None) -> int:
        params = {
            "p_provider": Provider(provider).value,
            "p_name": check_name(name, "An agent"),
            "p_external_id": external_id,
        }
        return self._function("ensure_agent", params, write=True)

    def upsert_call(self, provider: Provider, provider_call_id: str, update: CallUpdate) -> Call:
        check_call_key(provider_call_id)
        params = {
            "p_provider": Provider(provider).value,
            "p_provider_call_id": provider_call_id,
            "p_patch": update_json(update),
        }
        return Call.model_validate(self._function("upsert_call", params, write=True))

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
        return bool(self._function("record_event", params, write=True))

    # -- emergencies -----------------------------------------------------------------------

    def set_escalation_status(
        self, provider: Provider, provider_call_id: str, status: EscalationStatus
    ) -> bool:
        params = {
            "p_provider": Provider(provider).value,
            "p_provider_call_id": provider_call_id,
            "p_status": EscalationStatus(status).value,
        }
        return bool(self._function("set_escalation_status", params, write=True))

    def raise_emergency_alert(self, provider: Provider, provider_call_id: str) -> bool:
        params = {"p_provider": Provider(provider).value, "p_provider_call_id": provider_call_id}
        return bool(self._function("raise_emergency_alert", params, write=True))

    def open_emergency_alerts(self, *, limit: int = 20) -> EmergencyAlertPage:
        page = self._function("open_emergency_alerts", {"p_limit": limit})
        return EmergencyAlertPage.model_validate(page)

    def acknowledge_emergency_alert(self, alert_id: int, by: str) -> EmergencyAlert | None:
        if not (by or "").strip():
            raise WriteFailed("Who acknowledges the alert must be named.")
        params = {"p_alert_id": alert_id, "p_by": by.strip()}
        row = self._function("acknowledge_emergency_alert", params, write=True)
        return EmergencyAlert.model_validate(row) if row is not None else None

    def emergency_alert_log(self, provider: Provider, provider_call_id: str) -> list[AlertLogEntry]:
        params = {"p_provider": Provider(provider).value, "p_provider_call_id": provider_call_id}
        rows = self._function("emergency_alert_log", params) or []
        return [AlertLogEntry.model_validate(row) for row in rows]

    # -- reads -----------------------------------------------------------------------------

    def get_call(self, provider_call_id: str, provider: Provider | None = None) -> Call | None:
        params = {
            "p_provider_call_id": provider_call_id,
            "p_provider": Provider(provider).value if provider else None,
        }
        row = self._function("get_call", params)
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
        return CallPage.model_validate(self._function("search_calls", params))

    def iter_calls(self, filters: CallFilters, *, batch_size: int = 1000) -> Iterator[Call]:
        check_page(1, batch_size)
        params: dict[str, Any] = {
            "p_filters": filters_json(filters),
            "p_after_created_at": None,
            "p_after_id": None,
            "p_limit": batch_size,
        }
        while True:
            batch = self._function("export_calls", params)
            for row in batch:
                yield Call.model_validate(row)
            if len(batch) < batch_size:
                return
            params["p_after_created_at"] = batch[-1]["created_at"]
            params["p_after_id"] = batch[-1]["id"]

    def on_time_counts(self, filters: CallFilters) -> dict[str, int]:
        return dict(self._function("on_time_counts", {"p_filters": self._figure(filters)}) or {})

    def retell_metrics(self, filters: CallFilters) -> CallMetrics:
        result = self._function("retell_metrics", {"p_filters": self._figure(filters)})
        return CallMetrics.model_validate(result)

    def latency_trend(self, filters: CallFilters) -> list[LatencyDay]:
        result = self._function("latency_trend", {"p_filters": self._figure(filters)})
        return [LatencyDay.model_validate(day) for day in result]

    def duration_histogram(
        self, filters: CallFilters, *, max_bins: int = MAX_BINS
    ) -> list[dict[str, float | int]]:
        params = {
            "p_filters": self._figure(filters),
            "p_widths": list(NICE_WIDTHS_SECS),
            "p_max_bins": max_bins,
        }
        return histogram_from(self._function("duration_histogram", params))

    def pipecat_metrics(
        self, filters: CallFilters, *, page: int = 1, page_size: int = 50
    ) -> PipecatMetrics:
        check_page(page, page_size)
        params = {"p_filters": self._figure(filters), "p_page": page, "p_page_size": page_size}
        return PipecatMetrics.model_validate(self._function("pipecat_metrics", params))
