"""`python -m db migrate | check | seed --calls N [--if-empty] [--days 30] [--seed 42]
| expire-recordings [--days N]`.

Works on whichever backend the settings select (DATABASE_URL / SUPABASE_URL).
"""

from __future__ import annotations

import argparse
import sys

from db import StoreError, open_store
from settings import ConfigError, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m db", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending schema migrations (idempotent)")
    commands.add_parser("check", help="exit 1 unless the database is reachable and migrated")
    seed = commands.add_parser("seed", help="write demo drivers, loads and calls")
    seed.add_argument("--calls", type=int, default=2000, help="how many calls (default 2000)")
    seed.add_argument("--days", type=int, default=30, help="spread over the last N days")
    seed.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing when the database already has calls"
    )
    seed.add_argument("--quiet", action="store_true", help="no progress bar")
    expire = commands.add_parser(
        "expire-recordings",
        help="delete call recordings older than RECORDING_RETENTION_DAYS (safe to rerun)",
    )
    expire.add_argument("--days", type=int, help="override RECORDING_RETENTION_DAYS")
    return parser


def _expire_recordings(days: int | None) -> int:
    from datetime import UTC, datetime, timedelta

    from db.recordings import RecordingError, open_recordings

    try:
        settings = get_settings()
        days = days if days is not None else settings.recording_retention_days
        if days is None:
            print("RECORDING_RETENTION_DAYS is not set: recordings are kept.")
            return 0
        if days < 1:
            print("error: --days must be >= 1", file=sys.stderr)
            return 2
        deleted = open_recordings(settings).expire(datetime.now(UTC) - timedelta(days=days))
    except (ConfigError, RecordingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Deleted {len(deleted)} recording(s) older than {days} days.")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "expire-recordings":
        return _expire_recordings(args.days)
    if getattr(args, "calls", 1) < 0 or getattr(args, "days", 1) < 1:
        print("error: --calls must be >= 0 and --days >= 1", file=sys.stderr)
        return 2
    try:
        settings = get_settings()
        store = open_store(settings)
    except (ConfigError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if args.command == "migrate":
            applied = store.migrate()
            where = settings.database_backend
            print(f"Applied {', '.join(applied)} ({where})." if applied else "Up to date.")
        elif args.command == "check":
            store.check()
            print(f"OK: the {settings.database_backend} database is reachable and migrated.")
        elif args.command == "seed":
            from db.seed import seed_demo_data

            written = seed_demo_data(
                store,
                calls=args.calls,
                days=args.days,
                seed=args.seed,
                if_empty=args.if_empty,
                keywords=settings.keywords,
                progress=not args.quiet,
            )
            if written is None:
                print("The database already has calls; not seeding (--if-empty).")
            else:
                print(f"Seeded {written} calls.")
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
