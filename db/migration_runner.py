"""Applies db/migrations to PostgreSQL: numbered files once each, then the definitions.

`NNNN_name.sql` files hold what runs once (tables, columns, indexes, data changes) and are
never edited once released. `definitions/*.sql` hold every function and trigger in its current
form and are edited in place: they are applied again, after the numbered files, whenever a
numbered file is pending or their content changed (recorded as `definitions@<hash>`).
Everything pending is applied in one transaction, so a failure leaves the schema as it was and
writers never see new tables with old functions. A session advisory lock serialises
concurrent runs (two processes starting at once both succeed and apply each file once).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import psycopg
from psycopg import sql

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DEFINITIONS_DIR = MIGRATIONS_DIR / "definitions"
# In dependency order: SQL-language bodies are checked against what exists when created.
DEFINITION_FILES = (
    "calls.sql",
    "figures.sql",
    "emergencies.sql",
    "loads.sql",
    "bot_sessions.sql",
    "access.sql",
)
MIGRATION_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")
DEFINITIONS_PREFIX = "definitions@"
FUNCTION_NAME = re.compile(r"^create or replace function\s+(\w+)\s*\(", re.I | re.M)
# Any constant shared by every process that migrates this schema.
ADVISORY_LOCK_KEY = 7_305_112_019

CREATE_SCHEMA_MIGRATIONS = """
create table if not exists schema_migrations (
    name text primary key,
    applied_at timestamptz not null default now()
)
"""
FUNCTIONS_NAMED = """
select p.oid::regprocedure::text
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname = current_schema() and p.proname = any(%s)
"""


class MigrationFailed(RuntimeError):
    """A migration file raised an error; the run was rolled back and nothing recorded."""

    def __init__(self, name: str, cause: psycopg.Error) -> None:
        reason = cause.diag.message_primary or str(cause)
        super().__init__(f"Migration {name} failed and was rolled back: {reason}")
        self.name = name


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """The numbered migration files, in the order they apply."""
    return sorted(p for p in directory.iterdir() if MIGRATION_NAME.match(p.name))


def definitions_name(directory: Path = DEFINITIONS_DIR) -> str:
    """The name the current definitions are recorded under: it changes with their content."""
    digest = hashlib.sha256()
    for name in DEFINITION_FILES:
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes())
    return DEFINITIONS_PREFIX + digest.hexdigest()[:16]


def migration_names(directory: Path = MIGRATIONS_DIR) -> list[str]:
    """What a current schema has recorded: every numbered file, then the definitions."""
    return [p.name for p in migration_files(directory)] + [definitions_name()]


def applied_migrations(conn: psycopg.Connection) -> list[str]:
    """Names recorded as applied; empty when the schema was never migrated."""
    exists = conn.execute("select to_regclass('schema_migrations') is not null").fetchone()
    if not exists or not exists[0]:
        return []
    return [row[0] for row in conn.execute("select name from schema_migrations order by name")]


def pending_migrations(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    applied = set(applied_migrations(conn))
    return [name for name in migration_names(directory) if name not in applied]


def apply_migrations(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration and the definitions; return the names recorded now
    (empty when current).

    `conn` must be in autocommit mode: the run opens its own transaction.
    """
    if not conn.autocommit:
        raise ValueError("apply_migrations needs an autocommit connection")
    conn.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        conn.execute(CREATE_SCHEMA_MIGRATIONS)
        pending = pending_migrations(conn, directory)
        if not pending:
            return []
        numbered = [directory / name for name in pending if MIGRATION_NAME.match(name)]
        definitions = [DEFINITIONS_DIR / name for name in DEFINITION_FILES]
        with conn.transaction():
            for path in [*numbered, *definitions]:
                _execute_file(conn, path)
            _grant_functions_to_service_role(conn, definitions)
            conn.execute(
                "delete from schema_migrations where starts_with(name, %s)", (DEFINITIONS_PREFIX,)
            )
            for name in [*pending, definitions_name()]:
                conn.execute(
                    "insert into schema_migrations (name) values (%s) on conflict do nothing",
                    (name,),
                )
        return pending
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def _execute_file(conn: psycopg.Connection, path: Path) -> None:
    try:
        conn.execute(path.read_text(encoding="utf-8"))  # type: ignore[arg-type]  # trusted file
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        raise MigrationFailed(path.name, exc) from exc


def _grant_functions_to_service_role(conn: psycopg.Connection, files: list[Path]) -> None:
    """Only the service role may call the functions `files` define (none is public)."""
    names = sorted({m for f in files for m in FUNCTION_NAME.findall(f.read_text("utf-8"))})
    roles = {
        row[0]
        for row in conn.execute(
            "select rolname from pg_roles where rolname = any(%s)",
            (["anon", "authenticated", "service_role"],),
        )
    }
    for (signature,) in conn.execute(FUNCTIONS_NAMED, (names,)).fetchall():
        function = sql.SQL(signature)  # a regprocedure's text: quoted as needed
        conn.execute(sql.SQL("revoke all on function {} from public").format(function))
        for role in sorted(roles - {"service_role"}):
            conn.execute(
                sql.SQL("revoke all on function {} from {}").format(function, sql.Identifier(role))
            )
        if "service_role" in roles:
            conn.execute(sql.SQL("grant execute on function {} to service_role").format(function))
