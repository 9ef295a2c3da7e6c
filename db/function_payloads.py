"""The JSON the PostgreSQL functions (db/migrations/0002_functions.sql) take and return.

Shared by PostgresStore (psycopg) and SupabaseStore (PostgREST `.rpc()`), which call the same
functions, so both backends send identical arguments and read results the same way.
"""

from __future__ import annotations

from typing import Any, get_args

from db.models import CallFilters, CallUpdate, SortKey

SORT_KEYS: tuple[str, ...] = get_args(SortKey)
MAX_PAGE_SIZE = 1000  # the SQL functions enforce the same bound


def filters_json(filters: CallFilters) -> dict[str, Any]:
    """Only the filters that are set; datetimes as ISO 8601 strings."""
    return filters.model_dump(mode="json", exclude_none=True)


def update_json(update: CallUpdate) -> dict[str, Any]:
    """Only the fields this update knows: absent keys never erase anything."""
    return update.model_dump(mode="json", exclude_none=True)


def check_page(page: int, page_size: int) -> None:
    if page < 1:
        raise ValueError(f"page must be 1 or more, not {page}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")


def check_sort(sort: str) -> None:
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, not {sort!r}")
