"""The JSON the PostgreSQL functions (db/migrations/definitions/) take and return.

Shared by PostgresStore (psycopg) and SupabaseStore (PostgREST `.rpc()`), which call the same
functions, so both backends send identical arguments and read results the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar, get_args

from pydantic import BaseModel

from db.models import CallFilters, CallUpdate, SortKey

SORT_KEYS: tuple[str, ...] = get_args(SortKey)
MAX_PAGE_SIZE = 1000  # the SQL functions enforce the same bound
ModelT = TypeVar("ModelT", bound=BaseModel)


def filters_json(filters: CallFilters) -> dict[str, Any]:
    """Only the filters that are set; datetimes as ISO 8601 strings (naive ones taken as UTC).
    For lists and searches, which show simulated calls too."""
    return _as_utc(filters).model_dump(
        mode="json", exclude_none=True, exclude={"include_simulated"}
    )


def figure_filters_json(filters: CallFilters, timezone: str) -> dict[str, Any]:
    """The filters of a figure: simulated calls left out unless `include_simulated`; its days
    are days in `timezone` (the office's, an IANA name)."""
    payload = filters_json(filters)
    if not filters.include_simulated:
        payload["simulated"] = False
    payload["timezone"] = timezone
    return payload


def update_json(update: CallUpdate) -> dict[str, Any]:
    """Only the fields this update knows: absent keys never erase anything."""
    return _as_utc(update).model_dump(mode="json", exclude_none=True)


def _as_utc(model: ModelT) -> ModelT:
    """The model with naive datetimes marked UTC, as the SQLite backend reads them, so the
    database session's time zone never shifts an instant."""
    naive = {
        name: value.replace(tzinfo=UTC)
        for name, value in model
        if isinstance(value, datetime) and value.tzinfo is None
    }
    return model.model_copy(update=naive) if naive else model


def check_page(page: int, page_size: int) -> None:
    if page < 1:
        raise ValueError(f"page must be 1 or more, not {page}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")


def check_sort(sort: str) -> None:
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, not {sort!r}")


def check_call_key(provider_call_id: str) -> None:
    if not provider_call_id or not provider_call_id.strip():
        raise ValueError("provider_call_id must not be empty.")


def check_name(name: str, what: str) -> str:
    if not name or not name.strip():
        raise ValueError(f"{what} needs a name.")
    return name.strip()
