"""Supabase backend (supabase-py over PostgREST, with the service role key).

Every operation is one `.rpc()` call to a SQL function from db/migrations, the same functions
PostgresStore calls (db/function_store.py): aggregates and search run in the database, lists
page with page arguments, the export walks a keyset in batches, and nothing ever downloads rows
to aggregate in Python (PostgREST caps a response at 1,000 rows). The schema is applied with the
same migration files (Supabase SQL editor, or `python -m db migrate` with DATABASE_URL set to the
project's connection string), because PostgREST cannot run DDL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import httpx
from postgrest.exceptions import APIError
from pydantic_core import to_jsonable_python
from supabase import ClientOptions, create_client

from db.function_payloads import check_call_key, update_json
from db.function_store import FunctionStore
from db.migration_runner import migration_names
from db.models import CallUpdate, Provider
from db.office_days import zone_named
from db.store import NotMigrated, StoreAuthError, StoreError, StoreUnavailable, WriteFailed

INSERT_BATCH_ROWS = 500  # calls per insert_calls request (keeps request bodies small)
NOT_FOUND_CODES = {"PGRST202", "PGRST205", "42883", "42P01"}  # function / table missing
MIGRATE_HINT = (
    "run `python -m db migrate` with DATABASE_URL set to the Supabase project's connection "
    "string (it applies db/migrations and records what it applied)"
)


class SupabaseStore(FunctionStore):
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

    def _function(self, name: str, params: dict[str, Any], *, write: bool = False) -> Any:
        return self._rpc(name, to_jsonable_python(params), write=write)

    # -- schema ----------------------------------------------------------------------------

    def _pending_migrations(self) -> list[str]:
        applied = set(self._rpc("dispatch_schema_version", {}) or [])
        return [name for name in migration_names() if name not in applied]

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

    def close(self) -> None:
        self._http.close()
