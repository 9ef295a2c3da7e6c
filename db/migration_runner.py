"""Applies db/migrations/NNNN_name.sql to PostgreSQL in order, once each.

Applied names are recorded in `schema_migrations`; each file runs in its own transaction, so a
failing migration leaves nothing half-applied. A session advisory lock serialises concurrent
runs (two processes starting at once both succeed and apply each file exactly once).
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")
# Any constant shared by every process that migrates this schema.
ADVISORY_LOCK_KEY = 7_305_112_019

CREATE_SCHEMA_MIGRATIONS = """
create table if not exists schema_migrations (
    name text primary key,
    applied_at timestamptz not null default now()
)
"""


class MigrationFailed(RuntimeError):
    """A migration file raised an error; it was rolled back and not recorded."""

    def __init__(self, name: str, cause: psycopg.Error) -> None:
        reason = cause.diag.message_primary or str(cause)
        super().__init__(f"Migration {name} failed and was rolled back: {reason}")
        self.name = name


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """The migration files, in the order they apply."""
    return sorted(p for p in directory.iterdir() if MIGRATION_NAME.match(p.name))


def applied_migrations(conn: psycopg.Connection) -> list[str]:
    """Names recorded as applied; empty when the schema was never migrated."""
    exists = conn.execute("select to_regclass('schema_migrations') is not null").fetchone()
    if not exists or not exists[0]:
        return []
    return [row[0] for row in conn.execute("select name from schema_migrations order by name")]


def pending_migrations(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    applied = set(applied_migrations(conn))
    return [p.name for p in migration_files(directory) if p.name not in applied]


def apply_migrations(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration; return the names applied now (empty when current).

    `conn` must be in autocommit mode: each migration opens its own transaction.
    """
    if not conn.autocommit:
        raise ValueError("apply_migrations needs an autocommit connection")
    conn.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        conn.execute(CREATE_SCHEMA_MIGRATIONS)
        applied_now = []
        for name in pending_migrations(conn, directory):
            sql = (directory / name).read_text(encoding="utf-8")
            try:
                with conn.transaction():
                    conn.execute(sql)  # type: ignore[arg-type]  # trusted file, many statements
                    conn.execute("insert into schema_migrations (name) values (%s)", (name,))
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                raise MigrationFailed(name, exc) from exc
            applied_now.append(name)
        return applied_now
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
