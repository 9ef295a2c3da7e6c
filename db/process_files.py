"""Files owned by one process at a time: `<path>`, `<path>.1`, `<path>.2`, ... each held with an
exclusive lock (`<file>.lock`, flock: the kernel lets go when the process dies).

Several processes given the same configured path (uvicorn `--workers N`, several bot
processes on one host) each take the first free file; a starting process can then adopt the
files no running process holds, so nothing queued in them is stranded. The voice server's
outbox (db/outbox.py) and the bot's event spool (bot/spool.py) both use this.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

MAX_SIBLING_FILES = 64


def sibling_paths(configured: Path) -> list[Path]:
    """`configured`, then `configured.1` ... `configured.63`, in the order they are claimed."""
    return [configured] + [
        configured.with_name(f"{configured.name}.{n}") for n in range(1, MAX_SIBLING_FILES)
    ]


def try_lock(path: Path) -> Any:
    """An open lock file for `path` held exclusively by us, or None when another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.with_name(path.name + ".lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def claim_first_free(configured: Path) -> tuple[Path, Any] | None:
    """The first sibling file no other process holds, with its held lock; None when all are
    held. OSError when the folder cannot take a lock file."""
    for path in sibling_paths(configured):
        if (lock := try_lock(path)) is not None:
            return path, lock
    return None


def orphaned_siblings(configured: Path, own: Path) -> list[tuple[Path, Any]]:
    """The other sibling files that exist (or whose `companions` do) and that no running
    process holds, each with its lock now held by us (close it when done)."""
    found = []
    for sibling in sibling_paths(configured):
        if sibling == own or not sibling.with_name(sibling.name + ".lock").exists():
            continue
        try:
            lock = try_lock(sibling)
        except OSError:
            continue
        if lock is not None:
            found.append((sibling, lock))
    return found
