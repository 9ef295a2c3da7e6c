"""The Store interface every backend implements, and its typed errors.

Backends: `SqliteStore` (embedded default), `PostgresStore` (psycopg 3), `SupabaseStore`
(supabase-py; aggregates and search as SQL functions called with `.rpc()`). One contract
suite (tests/db/test_store_contract.py) holds them to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

from agent.vocabulary import EscalationStatus
from db.histogram import MAX_BINS
from db.load_models import (
    AttemptPlacement,
    AttemptRow,
    BoardFilters,
    BoardRow,
    ClaimedAttempt,
    Load,
    LoadIn,
    LoadPatch,
    LoadSlots,
    OpenAttempt,
    PlannedSlot,
    Settlement,
    SlotRow,
    WebhookDelivery,
)
from db.models import (
    AlertLogEntry,
    BotSession,
    Call,
    CallFilters,
    CallMetrics,
    CallPage,
    CallUpdate,
    EmergencyAlert,
    EmergencyAlertPage,
    Event,
    LatencyDay,
    PipecatMetrics,
    Provider,
    SortKey,
)


class StoreError(RuntimeError):
    """Base of every error a Store raises."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (down, locked for too long, network)."""


class NotMigrated(StoreError):
    """The schema is missing or behind: run `python -m db migrate`."""


class StoreAuthError(StoreError):
    """The database refused our credentials (e.g. a 401 from PostgREST)."""


class WriteFailed(StoreError):
    """A write was rejected; nothing of it was kept."""


class Store(Protocol):
    backend: str

    def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied (idempotent)."""

    def check(self) -> None:
        """Raise StoreUnavailable / NotMigrated / StoreAuthError when not usable."""

    def ensure_driver(self, name: str, phone: str | None = None) -> int:
        """Id of the driver with this phone (or this name when no phone), created if new."""

    def ensure_agent(self, provider: Provider, name: str, external_id: str | None = None) -> int:
        """Id of the agent (provider, external_id or name), created if new."""

    def upsert_call(self, provider: Provider, provider_call_id: str, update: CallUpdate) -> Call:
        """Create or merge. Known fields are never erased by None; the transcript is replaced
        only by one with at least as many turns; call_outcome/driver_status/emergency_type
        columns follow `structured`; status never goes back from ended/error to ongoing."""

    def save_transcript(
        self, provider: Provider, provider_call_id: str, transcript: list[dict[str, str]]
    ) -> None:
        """Store the transcript as it grows (same merge rule as upsert_call)."""

    def record_event(self, event: Event) -> bool:
        """Keep a raw provider event; False when its idempotency key was seen before."""

    def get_call(self, provider_call_id: str, provider: Provider | None = None) -> Call | None: ...

    def search_calls(
        self,
        filters: CallFilters,
        *,
        sort: SortKey = "-created_at",
        page: int = 1,
        page_size: int = 50,
    ) -> CallPage:
        """One page of matching calls and the exact total."""

    def iter_calls(self, filters: CallFilters, *, batch_size: int = 1000) -> Iterator[Call]:
        """Every matching call, newest first, in constant memory (keyset pagination)."""

    def on_time_counts(self, filters: CallFilters) -> dict[str, int]:
        """Matching calls per on-time status ("On Time", "At Risk", "Late"); calls without one
        are not counted."""

    def retell_metrics(self, filters: CallFilters) -> CallMetrics:
        """Aggregates in SQL; provider defaults to retell when the filter has none. `per_day`
        counts days in the office's zone (DISPATCH_TIMEZONE, given when the Store is opened)."""

    def latency_trend(self, filters: CallFilters) -> list[LatencyDay]:
        """Per office day (the Store's office zone, DISPATCH_TIMEZONE) and engine, the calls'
        voice latency p50 and p90 (oldest day first)."""

    def duration_histogram(
        self, filters: CallFilters, *, max_bins: int = MAX_BINS
    ) -> list[dict[str, float | int]]:
        """Matching calls with a duration, counted per bin of a width chosen from their range
        (`db.histogram`); every provider unless the filters name one."""
        ...

    def pipecat_metrics(
        self, filters: CallFilters, *, page: int = 1, page_size: int = 50
    ) -> PipecatMetrics:
        """Per-call items (one page) and aggregates over pipecat calls."""

    def bulk_insert_calls(self, rows: Iterable[tuple[Provider, str, CallUpdate]]) -> int:
        """Fast insert of new calls (demo data); returns how many were written."""

    # -- loads and scheduled check calls (db/load_models.py) --------------------------------

    def upsert_loads(self, loads: Sequence[LoadIn]) -> int:
        """Insert or replace loads by load number, all of them or none; a change to what the
        call plan reads (appointments, status, plan) makes the scheduler re-plan the load."""

    def get_load(self, load_number: str) -> Load | None: ...

    def update_load(self, load_number: str, patch: LoadPatch) -> Load | None:
        """Pause, resume, change status or plan; None when there is no such load."""

    def loads_to_plan(self, limit: int = 500) -> list[Load]:
        """Loads changed since their slots were last expanded."""

    def sync_loads_slots(self, plans: Sequence[LoadSlots]) -> int:
        """Make each load's planned slots these (by key), in one transaction; a load changed
        since its `version` was read is left for the next round. Returns how many were planned."""

    def add_call_slot(self, load_number: str, slot: PlannedSlot) -> bool:
        """One extra slot (call now, emergency follow-up); False when its key exists."""

    def claim_due_slots(
        self,
        engine: str,
        now: datetime,
        *,
        limit: int,
        cap: int,
        owner: str,
        lease_secs: float,
        late_secs: float | None,
    ) -> list[ClaimedAttempt]:
        """Own up to `limit` due slots for one attempt each, keeping the engine's unsettled
        attempts within `cap`; never the same (slot, attempt) twice, whoever else claims."""

    def mark_attempts_placed(self, placements: Sequence[AttemptPlacement], now: datetime) -> int:
        """Record the calls the engines started (one transaction for a whole claim)."""

    def open_attempts(
        self, now: datetime, stale_before: datetime, limit: int = 500
    ) -> list[OpenAttempt]:
        """Attempts ready to settle: call ended, placed before `stale_before`, or lease lapsed."""

    def settle_attempt(self, attempt_id: int, settlement: Settlement, now: datetime) -> bool:
        """Settle once (False if already settled) and move the slot and load on."""

    def load_attempts(self, load_number: str) -> list[AttemptRow]: ...

    def load_slots(self, load_number: str) -> list[SlotRow]: ...

    def dispatch_board(self, filters: BoardFilters) -> list[BoardRow]:
        """Loads with their last call, next slot and attempts; open emergencies first."""

    def enqueue_finished_calls(self, target: str, since: datetime, now: datetime) -> int:
        """Queue one webhook delivery per finished call about a known load created since."""

    def claim_webhooks(
        self, target: str, now: datetime, *, limit: int, lease_secs: float
    ) -> list[WebhookDelivery]: ...

    def settle_webhook(
        self,
        delivery_id: int,
        state: str,
        now: datetime,
        *,
        retry_at: datetime | None,
        status: int | None,
        error: str | None,
    ) -> None: ...

    def set_escalation_status(
        self, provider: Provider, provider_call_id: str, status: EscalationStatus
    ) -> bool:
        """The provider's word on a transfer, merged into the call's structured result; the
        status never moves to a lower `EscalationStatus.rank` (also not by a later
        upsert_call). False when the call is unknown."""

    def raise_emergency_alert(self, provider: Provider, provider_call_id: str) -> bool:
        """Open the call's emergency alert; True when raised now, False when it already was
        (one alert per call, ever)."""

    def open_emergency_alerts(self, *, limit: int = 20) -> EmergencyAlertPage:
        """The newest open alerts with their calls' details, and how many are open."""

    def acknowledge_emergency_alert(self, alert_id: int, by: str) -> EmergencyAlert | None:
        """Close an open alert, naming who; acknowledging again changes nothing. None when
        there is no such alert; WriteFailed when `by` is blank."""

    def emergency_alert_log(self, provider: Provider, provider_call_id: str) -> list[AlertLogEntry]:
        """The call's alert audit trail, oldest first."""

    # -- bot sessions (several bot processes, one registry) --------------------------------

    def register_bot_session(self, session: BotSession) -> None:
        """Keep a session the voice server registered until it is joined or expires (its
        token is new; sessions expired for over a day are dropped on the way)."""

    def join_bot_session(self, token: str, joined_by: str, now: datetime) -> BotSession | None:
        """Spend the token: its session when it was waiting and unexpired at `now`, else None.
        One caller gets it, however many processes race for it."""

    def waiting_bot_session(self, provider_call_id: str, now: datetime) -> BotSession | None:
        """The call's newest session still waiting to be joined at `now`."""

    def close(self) -> None: ...
