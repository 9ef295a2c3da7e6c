"""A PostgreSQL schema as an earlier release left it: numbered migrations applied up to a point,
recorded, with no definitions of this release (an old release's functions were its own)."""

from __future__ import annotations

import psycopg

from db.migration_runner import CREATE_SCHEMA_MIGRATIONS, MIGRATIONS_DIR


def apply_numbered_files(conn: psycopg.Connection, names: list[str]) -> None:
    conn.execute(CREATE_SCHEMA_MIGRATIONS)
    for name in names:
        with conn.transaction():
            conn.execute((MIGRATIONS_DIR / name).read_text(encoding="utf-8"))  # type: ignore[arg-type]
            conn.execute("insert into schema_migrations (name) values (%s)", (name,))
