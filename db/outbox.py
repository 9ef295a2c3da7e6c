"""A durable local outbox in front of any Store: writes survive a database outage.

`OutboxStore` wraps a Store. A write the database cannot take right now (`StoreUnavailable`) is
appended to a JSONL file (fsync'd and read back before the caller is answered) and replayed in
order by `drain()` once the database is back; while anything waits, new writes queue behind it so
one source's writes land in the order they were made. Reads pass through. Only when not even the
outbox file can take a write does the caller get an error (`WriteFailed`), so an HTTP handler
answers non-2xx exactly when something would otherwise be lost.

Replaying is safe to repeat (a crash between applying and truncating replays a batch again):
`upsert_call` and `save_transcript` are merges, `ensure_driver` finds the same driver, and
`record_event` is deduplicated by its idempotency key. A driver created while the database is
down gets a provisional negative id; replay swaps it for the real one in every later write.

A live call's transcript is saved again and again: while it waits, a transcript-only write
replaces the one queued just before it for the same call (nothing else of that call between
them), so a long outage keeps one transcript per call, not one per flush; the file is compacted
once more of it is superseded than alive.

The first attempt of a write has a deadline (`first_attempt_secs`, well under Retell's 10 s
webhook timeout): a database that does not answer in time (SQLite's busy retry, a stalled
connection) is treated as unavailable and the write is queued. The abandoned attempt may still
land later; until it has, new writes queue too and the drainer waits for it, so the replay that
follows it restores the order. An attempt still running after `stuck_after_secs` marks the
database as stuck (`stuck`, what /healthz reports): meanwhile new writes queue at once instead of
piling more threads onto it, and `get_call`, the read on the call path, fails fast.

A full disk must not cost an acknowledged write: an append that fails (ENOSPC half-way, a failed
fsync, a line that does not read back) is truncated away before anything else is appended, so
the next line never continues a torn one; loading parses each `{"op": ...}` object on its own,
so a damaged line never takes a neighbour with it. An `upsert_call` naming a driver created
while the database was down carries that driver in its own line, so replay creates the driver
and the call as one unit even if the `ensure_driver` line were gone.

One outbox file belongs to one process, held with an exclusive lock: a second process given the
same OUTBOX_PATH (uvicorn `--workers N`) takes `<path>.1`, `<path>.2`, ... instead, and a process
starting up adopts the queued writes of any sibling file no running process holds.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.vocabulary import EscalationStatus
from db.models import Call, CallStatus, CallUpdate, Event, Provider
from db.process_files import MAX_SIBLING_FILES, claim_first_free, orphaned_siblings
from db.store import Store, StoreError, StoreUnavailable, WriteFailed

log = logging.getLogger(__name__)

REPLAY_BATCH = 200
FIRST_ATTEMPT_SECS = 4.0  # Retell gives a webhook 10 s before it retries
STUCK_AFTER_SECS = 1.0  # an attempt running this long means the database is stuck
FIRST_ATTEMPT_THREADS = 16
COMPACT_AFTER_SUPERSEDED = 64  # and more superseded lines on disk than live ones
TRANSCRIPT_OPS = ("save_transcript", "upsert_call")
# Store methods that go straight to the wrapped Store, never queued: reads and the lifecycle;
# an agent id is needed at once by its caller (agents are created at setup); acknowledging an
# alert has a person waiting; demo data fails loudly; a TMS pushing loads while the database
# is down gets an error and resends the batch (upserts are all-or-nothing and idempotent).
PASSED_THROUGH = frozenset(
    {
        "migrate",
        "check",
        "ensure_agent",
        "bulk_insert_calls",
        "search_calls",
        "iter_calls",
        "retell_metrics",
        "pipecat_metrics",
        "latency_trend",
        "duration_histogram",
        "open_emergency_alerts",
        "acknowledge_emergency_alert",
        "emergency_alert_log",
        "upsert_loads",
        "get_load",
        "update_load",
        "load_attempts",
        "load_slots",
        "dispatch_board",
        "register_bot_session",
        "join_bot_session",
        "waiting_bot_session",
    }
)


@dataclass(eq=False)  # entries are compared by identity: two equal writes are two writes
class OutboxEntry:
    op: str  # the Store method to replay
    args: dict[str, Any]  # its JSON-ready arguments

    def to_json(self) -> str:
        return json.dumps({"op": self.op, "args": self.args}, separators=(",", ":"))

    @property
    def call_key(self) -> tuple[str, str] | None:
        """The call this write touches, if any."""
        if self.op in TRANSCRIPT_OPS:
            return self.args["provider"], self.args["provider_call_id"]
        if self.op == "record_event":
            return self.args["event"]["provider"], self.args["event"]["provider_call_id"]
        return None

    @property
    def transcript_only(self) -> list[Any] | None:
        """The transcript, when saving it is all this write does."""
        if self.op == "save_transcript":
            return self.args["transcript"]
        if self.op == "upsert_call" and set(self.args["update"]) == {"transcript"}:
            return self.args["update"]["transcript"]
        return None

    def supersedes(self, earlier: OutboxEntry) -> bool:
        """Replaying `earlier` then this leaves the row as replaying this alone would.

        Both only save a transcript (either op creates the row), and this one is at least as
        long: the stores keep the longer transcript, so the earlier one can never win.
        """
        mine, theirs = self.transcript_only, earlier.transcript_only
        return mine is not None and theirs is not None and len(mine) >= len(theirs)


class OutboxRefused(WriteFailed):
    """Neither the database nor the outbox took the write: nothing was kept, try again later."""


class OutboxStore:
    """A Store whose writes wait in `outbox_path` while the wrapped Store is unavailable."""

    def __init__(
        self,
        inner: Store,
        outbox_path: str | os.PathLike[str],
        *,
        first_attempt_secs: float = FIRST_ATTEMPT_SECS,
        stuck_after_secs: float = STUCK_AFTER_SECS,
    ) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.first_attempt_secs = first_attempt_secs
        self.stuck_after_secs = stuck_after_secs
        self._in_flight: dict[Future[Any], float] = {}  # attempt -> when it started
        self._lock = threading.RLock()
        self._drain_lock = threading.Lock()
        self._attempts = ThreadPoolExecutor(FIRST_ATTEMPT_THREADS, "outbox-first-attempt")
        self._abandoned: set[Future[Any]] = set()  # first attempts past their deadline
        self.path, self._path_lock = _claim(Path(outbox_path))
        self._entries: list[OutboxEntry] = []
        self._last_by_call: dict[tuple[str, str], OutboxEntry] = {}
        self._superseded_on_disk = 0
        self._provisional_drivers: dict[int, dict[str, Any]] = {}  # id -> ensure_driver args
        self._torn_at: int | None = None  # where a failed append began: cut back before the next
        self._rewrite_pending = False  # the file still holds replayed entries (rewrite failed)
        for entry in self._load(self.path, own=True):
            self._admit(entry)
        self._adopt_orphans(Path(outbox_path))
        self._pending_event_keys = {
            e.args["event"]["idempotency_key"] for e in self._entries if e.op == "record_event"
        }
        self._real_driver_ids: dict[int, int] = {}  # provisional -> real, once replayed
        self.rejected = 0  # entries the database refused for good (kept in `<path>.rejected`)

    # -- state -------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """How many writes wait for the database."""
        return len(self._entries)

    @property
    def stuck(self) -> bool:
        """A database call has been running for longer than `stuck_after_secs`."""
        with self._lock:
            oldest = min(self._in_flight.values(), default=None)
        return oldest is not None and time.monotonic() - oldest > self.stuck_after_secs

    def queued_transcript(self, provider: Provider, provider_call_id: str) -> list[Any]:
        """The newest transcript of this call still waiting here (empty when none)."""
        with self._lock:
            for entry in reversed(self._entries):
                if entry.call_key == (str(provider), provider_call_id):
                    transcript = entry.transcript_only
                    if transcript is None and entry.op == "upsert_call":
                        transcript = entry.args["update"].get("transcript")
                    if transcript:
                        return transcript
        return []

    def _load(self, path: Path, *, own: bool = False) -> list[OutboxEntry]:
        if not path.exists():
            return []
        data = path.read_bytes()
        entries = []
        for number, line in enumerate(data.split(b"\n"), 1):
            if not line.strip():
                continue
            objects, unreadable = _parse_line(line)
            for raw in objects:
                entries.append(OutboxEntry(raw["op"], raw["args"]))
            if unreadable:
                # A torn append that was never acknowledged; any whole entry beside it is kept.
                log.warning(
                    "outbox %s: line %d: skipped %d unreadable bytes, kept %d entries",
                    path, number, unreadable, len(objects),
                )  # fmt: skip
        if own and data and not data.endswith(b"\n"):
            # A crash mid-append: the torn tail goes before anything is appended after it.
            self._torn_at = data.rfind(b"\n") + 1
        if entries:
            log.warning("outbox %s: %d writes wait from an earlier run", path, len(entries))
        return entries

    def _adopt_orphans(self, configured: Path) -> None:
        """Take over the queued writes of sibling outbox files no running process holds."""
        # A file a running process holds is its own: it drains it itself.
        for sibling, lock in orphaned_siblings(configured, self.path):
            if not sibling.exists():
                lock.close()
                continue
            try:
                adopted = self._load(sibling)
                if adopted:
                    for entry in adopted:
                        self._admit(entry)
                    self._rewrite()  # durable here first, then gone there
                sibling.unlink(missing_ok=True)
            finally:
                lock.close()

    def _append(self, entry: OutboxEntry) -> None:
        """Durably append before the caller is answered; WriteFailed if impossible.

        Durable means written, fsync'd and read back intact. A failed append is cut away again
        at once (or, failing that, before the next append), so no later line continues it.
        """
        line = (entry.to_json() + "\n").encode()
        try:
            self._repair_tail()
            if self._rewrite_pending:
                self._rewrite()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                start = os.fstat(descriptor).st_size
                self._torn_at = start
                _write_all(descriptor, line)
                os.fsync(descriptor)
                if os.pread(descriptor, len(line), start) != line:
                    raise OSError(errno.EIO, "the appended line does not read back")
                self._torn_at = None
            finally:
                os.close(descriptor)
        except OSError as exc:
            try:
                self._repair_tail()
            except OSError as repair:
                log.error("outbox %s: cannot cut a failed append yet: %s", self.path, repair)
            raise OutboxRefused(
                f"The database is unavailable and the outbox at {self.path} cannot take the "
                f"write either ({exc.strerror}); nothing was kept."
            ) from None
        self._admit(entry)
        if self._superseded_on_disk >= COMPACT_AFTER_SUPERSEDED and self._superseded_on_disk > len(
            self._entries
        ):
            try:
                self._rewrite()
            except OSError as exc:  # the appended line is durable already; compact later
                log.warning("outbox %s: compaction failed: %s", self.path, exc.strerror)

    def _repair_tail(self) -> None:
        """Cut the file back to where a failed append began (truncating frees space, so it
        works on a full disk too); when even that fails, rewrite the file from memory."""
        if self._torn_at is None:
            return
        try:
            descriptor = os.open(self.path, os.O_RDWR)
            try:
                if os.fstat(descriptor).st_size > self._torn_at:
                    os.ftruncate(descriptor, self._torn_at)
                    os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except FileNotFoundError:
            pass
        except OSError:
            self._rewrite()  # raises when the disk cannot take the copy either
        self._torn_at = None

    def _admit(self, entry: OutboxEntry) -> None:
        """Queue `entry` in memory, dropping the write of the same call it supersedes."""
        if entry.op == "ensure_driver":
            self._provisional_drivers[entry.args["id"]] = entry.args
        key = entry.call_key
        if key is not None:
            previous = self._last_by_call.get(key)
            if previous is not None and entry.supersedes(previous):
                # A drain replaying `previous` right now still applies it first: harmless.
                self._entries.remove(previous)
                self._superseded_on_disk += 1
            self._last_by_call[key] = entry
        self._entries.append(entry)

    def _rewrite(self) -> None:
        """Persist the entries still waiting (atomically: write a copy, fsync, rename)."""
        if not self._entries:
            self.path.unlink(missing_ok=True)
        else:
            temporary = self.path.with_name(self.path.name + ".tmp")
            try:
                with temporary.open("w", encoding="utf-8") as file:
                    file.writelines(entry.to_json() + "\n" for entry in self._entries)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, self.path)
            except OSError:
                temporary.unlink(missing_ok=True)  # a half copy must not hold the space
                raise
        self._superseded_on_disk = 0
        self._torn_at = None
        self._rewrite_pending = False

    # -- writes --------------------------------------------------------------------------------

    def _write(
        self,
        entry: Callable[[], OutboxEntry],
        direct: Callable[[], Any],
        queued: Callable[[], Any],
    ) -> Any:
        """Write through when nothing waits; otherwise, or when the database is down, queue.

        `entry` builds the queued form only when it is needed: serializing a whole transcript
        for every write that goes straight through would be work on every live turn.
        """
        if not self._entries and not self._abandoned and not self.stuck:
            try:
                return self._first_attempt(direct)
            except StoreUnavailable as exc:
                log.warning("database unavailable, a write waits in the outbox: %s", exc)
        with self._lock:
            self._append(entry())
            return queued()

    def _first_attempt(self, direct: Callable[[], Any], *, write: bool = True) -> Any:
        attempt = self._attempts.submit(direct)
        with self._lock:
            self._in_flight[attempt] = time.monotonic()
        attempt.add_done_callback(self._settled)
        try:
            return attempt.result(timeout=self.first_attempt_secs)
        except FutureTimeout:
            if write and not attempt.cancel():  # already running: it may still land, later
                with self._lock:
                    if not attempt.done():
                        self._abandoned.add(attempt)
            what = "a write" if write else "a read"
            raise StoreUnavailable(
                f"The database did not take {what} within {self.first_attempt_secs:g}s."
            ) from None

    def _settled(self, attempt: Future[Any]) -> None:
        with self._lock:
            self._abandoned.discard(attempt)
            self._in_flight.pop(attempt, None)

    def ensure_driver(self, name: str, phone: str | None = None) -> int:
        provisional = -(uuid.uuid4().int >> 80)  # 48 bits: unique, never a real (positive) id
        return self._write(
            lambda: OutboxEntry("ensure_driver", {"name": name, "phone": phone, "id": provisional}),
            lambda: self.inner.ensure_driver(name, phone),
            lambda: provisional,
        )

    def upsert_call(self, provider: Provider, provider_call_id: str, update: CallUpdate) -> Call:
        update = self._with_real_driver(update)

        def entry() -> OutboxEntry:
            args: dict[str, Any] = {
                "provider": str(provider),
                "provider_call_id": provider_call_id,
                "update": update.model_dump(mode="json", exclude_none=True),
            }
            # A driver the database has not seen yet travels with the call: one line, one unit.
            if (driver := self._provisional_drivers.get(update.driver_id or 0)) is not None:
                args["driver"] = driver
            return OutboxEntry("upsert_call", args)

        return self._write(
            entry,
            lambda: self.inner.upsert_call(provider, provider_call_id, update),
            lambda: _queued_call(provider, provider_call_id, update),
        )

    def save_transcript(
        self, provider: Provider, provider_call_id: str, transcript: list[dict[str, str]]
    ) -> None:
        self._write(
            lambda: OutboxEntry(
                "save_transcript",
                {
                    "provider": str(provider),
                    "provider_call_id": provider_call_id,
                    "transcript": transcript,
                },
            ),
            lambda: self.inner.save_transcript(provider, provider_call_id, transcript),
            lambda: None,
        )

    def record_event(self, event: Event) -> bool:
        with self._lock:
            if event.idempotency_key in self._pending_event_keys:
                return False  # the same delivery already waits in the outbox

        def queued() -> bool:
            self._pending_event_keys.add(event.idempotency_key)
            return True

        return self._write(
            lambda: OutboxEntry("record_event", {"event": event.model_dump(mode="json")}),
            lambda: self.inner.record_event(event),
            queued,
        )

    def set_escalation_status(
        self, provider: Provider, provider_call_id: str, status: EscalationStatus
    ) -> bool:
        args = {
            "provider": str(provider),
            "provider_call_id": provider_call_id,
            "status": EscalationStatus(status).value,
        }
        return self._write(
            lambda: OutboxEntry("set_escalation_status", args),
            lambda: self.inner.set_escalation_status(provider, provider_call_id, status),
            lambda: True,
        )

    def raise_emergency_alert(self, provider: Provider, provider_call_id: str) -> bool:
        """Queued while the database is down (True: raised as far as this process knows);
        replaying is idempotent, the alert is raised once per call."""
        args = {"provider": str(provider), "provider_call_id": provider_call_id}
        return self._write(
            lambda: OutboxEntry("raise_emergency_alert", args),
            lambda: self.inner.raise_emergency_alert(provider, provider_call_id),
            lambda: True,
        )

    def _with_real_driver(self, update: CallUpdate) -> CallUpdate:
        real = self._real_driver_ids.get(update.driver_id or 0)
        return update.model_copy(update={"driver_id": real}) if real else update

    # -- replay --------------------------------------------------------------------------------

    def drain(self) -> int:
        """Replay waiting writes in order until the outbox is empty or the database fails again.

        Returns how many were applied. Runs in one thread at a time (the drainer).
        """
        applied = 0
        with self._drain_lock:
            # A first attempt still running (a slow or abandoned one) lands or fails before
            # anything queued after it is replayed, so the replay's order is the one that stands.
            with self._lock:
                running = list(self._in_flight)
            wait_for_futures(running)
            while True:
                with self._lock:
                    batch = list(self._entries[:REPLAY_BATCH])
                if not batch:
                    return applied
                done = 0
                try:
                    for entry in batch:
                        self._replay(entry)
                        done += 1
                except StoreUnavailable as exc:
                    log.info("outbox replay paused, database still unavailable: %s", exc)
                    return applied + self._forget(batch[:done])
                applied += self._forget(batch)

    def _forget(self, applied: list[OutboxEntry]) -> int:
        """Drop the applied entries and persist what still waits.

        By identity, not position: a write queued meanwhile may have superseded (removed) an
        entry of the batch.
        """
        if not applied:
            return 0
        with self._lock:
            gone = set(map(id, applied))
            self._entries = [entry for entry in self._entries if id(entry) not in gone]
            for entry in applied:
                if entry.op == "record_event":
                    self._pending_event_keys.discard(entry.args["event"]["idempotency_key"])
                key = entry.call_key
                if key is not None and self._last_by_call.get(key) is entry:
                    del self._last_by_call[key]
            try:
                self._rewrite()
            except OSError as exc:
                # Replayed again after a restart (replay is idempotent); retried before the
                # next append so the file does not keep growing with landed writes.
                self._rewrite_pending = True
                log.warning("outbox %s: cannot drop landed writes yet: %s", self.path, exc)
        return len(applied)

    def _replay(self, entry: OutboxEntry) -> None:
        args = entry.args
        try:
            if entry.op == "ensure_driver":
                real = self.inner.ensure_driver(args["name"], args["phone"])
                self._real_driver_ids[args["id"]] = real
            elif entry.op == "upsert_call":
                update = self._with_real_driver(CallUpdate.model_validate(args["update"]))
                if (update.driver_id or 0) < 0:  # provisional, its ensure_driver not replayed
                    update = self._resolve_driver(update, args.get("driver"))
                self.inner.upsert_call(Provider(args["provider"]), args["provider_call_id"], update)
            elif entry.op == "save_transcript":
                self.inner.save_transcript(
                    Provider(args["provider"]), args["provider_call_id"], args["transcript"]
                )
            elif entry.op == "record_event":
                self.inner.record_event(Event.model_validate(args["event"]))
            elif entry.op == "set_escalation_status":
                self.inner.set_escalation_status(
                    Provider(args["provider"]),
                    args["provider_call_id"],
                    EscalationStatus(args["status"]),
                )
            elif entry.op == "raise_emergency_alert":
                self.inner.raise_emergency_alert(
                    Provider(args["provider"]), args["provider_call_id"]
                )
            else:
                raise WriteFailed(f"unknown outbox operation {entry.op!r}")
        except StoreUnavailable:
            raise
        except StoreError as exc:
            # Refused for good (not an outage): keep it aside for a human, go on with the rest.
            self.rejected += 1
            log.error("outbox: the database refused a queued %s: %s", entry.op, exc)
            with self.path.with_name(self.path.name + ".rejected").open("a") as file:
                file.write(entry.to_json() + "\n")

    def _resolve_driver(self, update: CallUpdate, driver: dict[str, Any] | None) -> CallUpdate:
        """Create the driver the queued call names; with no trace of it, keep the call anyway."""
        provisional = update.driver_id or 0
        driver = driver or self._provisional_drivers.get(provisional)
        if driver is None:
            log.error("outbox: queued call names unknown provisional driver %d", provisional)
            return update.model_copy(update={"driver_id": None})
        real = self.inner.ensure_driver(driver["name"], driver["phone"])
        self._real_driver_ids[provisional] = real
        return update.model_copy(update={"driver_id": real})

    # -- reads --------------------------------------------------------------------------------

    def get_call(self, provider_call_id: str, provider: Provider | None = None) -> Call | None:
        """The read on a call's path (a socket opening, a webhook): bounded like a first write,
        and refused at once while the database is stuck, so callers never queue behind it."""
        if self.stuck:
            raise StoreUnavailable("The database is stuck: a call to it has not returned.")
        return self._first_attempt(
            lambda: self.inner.get_call(provider_call_id, provider), write=False
        )

    def __getattr__(self, name: str) -> Any:
        if name in PASSED_THROUGH:
            return getattr(self.inner, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def close(self) -> None:
        self._attempts.shutdown(wait=False, cancel_futures=True)
        self.inner.close()
        if self._path_lock is not None:
            self._path_lock.close()  # another process may now adopt what still waits


def _queued_call(provider: Provider, provider_call_id: str, update: CallUpdate) -> Call:
    """What the caller gets for a queued upsert: the update as a not-yet-stored call (id 0)."""
    fields = update.model_dump(exclude_none=True, exclude={"created_at"})
    fields.setdefault("status", CallStatus.REGISTERED)
    return Call(
        id=0,
        provider=provider,
        provider_call_id=provider_call_id,
        created_at=update.created_at or datetime.now(UTC),
        **fields,
    )


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def _parse_line(line: bytes) -> tuple[list[dict[str, Any]], int]:
    """The whole entries on one line, and how many bytes of it were not part of any.

    Normally one entry. A line an older version let a torn append run into holds a broken
    prefix and then a whole entry: each `{"op":` is tried on its own, so the whole one survives.
    """
    text = line.decode("utf-8", errors="replace")
    try:
        raw = json.loads(text)
        if _is_entry(raw):
            return [raw], 0
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    kept = 0
    position = text.find('{"op":')
    while position != -1:
        try:
            raw, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find('{"op":', position + 1)
            continue
        if _is_entry(raw):
            found.append(raw)
            kept += end - position
        position = text.find('{"op":', end)
    return found, len(text.strip()) - kept


def _is_entry(raw: Any) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("op"), str) and "args" in raw


def _claim(configured: Path) -> tuple[Path, Any]:
    """The first of `configured`, `configured.1`, ... that no other process holds."""
    try:
        claimed = claim_first_free(configured)
    except OSError as exc:
        # Stay up: writes still go through while the database is up, and each queued write
        # reports WriteFailed (a non-2xx answer) while it is down.
        log.error("outbox %s cannot be used: %s", configured, exc.strerror)
        return configured, None
    if claimed is not None:
        return claimed
    raise WriteFailed(
        f"Every outbox file {configured}[.1-.{MAX_SIBLING_FILES - 1}] is held by another "
        "process: give this process its own OUTBOX_PATH."
    )
