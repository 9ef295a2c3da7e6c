"""Each bot process holds its own event spool file; a starting one adopts what dead ones left.

Several bot processes given the same PIPECAT_SPOOL_PATH (N processes on one host) each take the
first file no running process holds: `<path>`, `<path>.1`, `<path>.2`, ... (db/process_files,
as the voice server's outbox does). At start, a process turns the session checkpoints a dead
process left in its file into summaries, and adopts the events and checkpoints of every other
file no running process holds, so nothing queued is stranded when the number of bot processes
changes or one is killed mid-call. The lock is held until the process exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from bot.event_client import EventClient
from db.process_files import MAX_SIBLING_FILES, claim_first_free, orphaned_siblings
from settings import ConfigError

_held: dict[Path, tuple[Path, Any]] = {}  # configured path -> (claimed file, its held lock)


@dataclass(frozen=True, slots=True)
class ClaimedSpool:
    path: Path
    recovered: int  # summaries of sessions that died with a process, spooled here
    adopted: int  # events moved here from spool files no running process held


def claim_spool(configured: str | Path) -> ClaimedSpool:
    """Hold this process's spool file (once per process) and take over orphaned ones."""
    configured = Path(configured)
    if configured in _held:
        return ClaimedSpool(_held[configured][0], 0, 0)
    try:
        claimed = claim_first_free(configured)
    except OSError as exc:
        raise ConfigError(
            f"PIPECAT_SPOOL_PATH={configured} cannot be used: {exc.strerror}"
        ) from None
    if claimed is None:
        raise ConfigError(
            f"Every spool file {configured}[.1-.{MAX_SIBLING_FILES - 1}] is held by a running "
            "bot process: give this process its own PIPECAT_SPOOL_PATH."
        )
    _held[configured] = claimed
    own = EventClient("http://unused", "", claimed[0])
    recovered = own.recover_checkpoints()
    adopted = 0
    for sibling, lock in orphaned_siblings(configured, claimed[0]):
        try:
            orphan = EventClient("http://unused", "", sibling)
            recovered += orphan.recover_checkpoints()
            adopted += own.adopt(orphan)
        finally:
            lock.close()
    if recovered or adopted:
        logger.warning(
            f"Spool {claimed[0]}: {recovered} summary(ies) of sessions cut off by a dead bot "
            f"process, {adopted} event(s) adopted from spool files no process holds"
        )
    return ClaimedSpool(claimed[0], recovered, adopted)


def claimed_spool_path(configured: str | Path) -> Path:
    """The file this process holds for `configured` (the configured path when none is held:
    code running outside `python -m bot`, such as tests of the pipeline)."""
    held = _held.get(Path(configured))
    return held[0] if held else Path(configured)
