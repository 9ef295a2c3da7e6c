"""The database layer: one Store interface, three backends chosen from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from db.store import NotMigrated, Store, StoreAuthError, StoreError, StoreUnavailable, WriteFailed

if TYPE_CHECKING:
    from settings import Settings

__all__ = [
    "NotMigrated",
    "Store",
    "StoreAuthError",
    "StoreError",
    "StoreUnavailable",
    "WriteFailed",
    "open_store",
]


def open_store(settings: Settings) -> Store:
    """The backend the settings select: Supabase, PostgreSQL or the embedded SQLite file."""
    backend = settings.database_backend
    if backend == "supabase":
        from db.supabase_store import SupabaseStore

        assert settings.supabase_url and settings.supabase_service_role_key
        return SupabaseStore(
            settings.supabase_url,
            settings.supabase_service_role_key.get_secret_value(),
            office_timezone=settings.dispatch_timezone,
        )
    if backend == "postgres":
        from db.postgres_store import PostgresStore

        return PostgresStore(
            settings.database_url,
            connect_timeout=max(2, round(settings.database_timeout_secs)),
            statement_timeout_secs=settings.database_timeout_secs,
            office_timezone=settings.dispatch_timezone,
        )
    from db.sqlite_store import SqliteStore

    return SqliteStore(settings.sqlite_path, office_timezone=settings.dispatch_timezone)
