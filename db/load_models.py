"""Loads, their call plans, the call slots a plan expands into and every attempt to place one.

Column names are the schema's (db/migrations/0010_loads_scheduler.sql, db/sqlite_0009_*.sql).
A slot is one check call the plan wants ("the 18:00 in-transit call"); an attempt is one try
at placing it. The scheduler claims due slots, so each (slot, attempt) is placed at most once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protocols.start_call import e164_phone, not_blank


class LoadStatus(StrEnum):
    PLANNED = "planned"  # booked, not picked up yet: no in-transit calls
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


ACTIVE_LOAD_STATUSES = (LoadStatus.PLANNED, LoadStatus.IN_TRANSIT)

Engine = Literal["retell", "pipecat", "simulated"]


class SlotKind(StrEnum):
    INTERVAL = "interval"  # every N hours in transit
    BEFORE_DELIVERY = "before_delivery"  # T minutes before the delivery appointment
    AFTER_DELIVERY = "after_delivery"  # after the appointment, unless arrival was confirmed
    CALL_NOW = "call_now"  # a dispatcher pressed "call now"
    EMERGENCY_FOLLOWUP = "emergency_followup"  # after a call that reported an emergency


class SlotState(StrEnum):
    DUE = "due"  # waits for next_attempt_at
    CALLING = "calling"  # an attempt is being placed or its call is under way
    DONE = "done"  # a call completed
    UNREACHABLE = "unreachable"  # the last attempt failed too
    SKIPPED = "skipped"  # too late to matter, or no longer needed
    CANCELLED = "cancelled"  # the plan no longer has it


class AttemptOutcome(StrEnum):
    COMPLETED = "completed"  # the driver talked: never retried
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    FAILED_START = "failed_start"  # the engine refused or could not be reached
    FAILED = "failed"  # the call broke off without the driver saying anything
    INTERRUPTED = "interrupted"  # the scheduler stopped mid-placement; never re-placed blindly


class CallPlan(BaseModel):
    """How a load is called. Settings give the defaults; a load's `plan` overrides fields."""

    model_config = ConfigDict(extra="forbid")

    every_hours: float = Field(default=4.0, ge=0)  # 0: no in-transit calls
    before_delivery_minutes: int = Field(default=60, ge=0)  # 0: none
    after_delivery_minutes: int = Field(default=30, ge=0)  # 0: none
    quiet_start: str = "22:00"  # driver local time; equal start and end: no quiet hours
    quiet_end: str = "06:00"
    engine: Engine = "simulated"
    max_attempts: int = Field(default=3, ge=1, le=10)
    retry_minutes: int = Field(default=10, ge=1)  # first backoff; doubles per attempt

    @field_validator("quiet_start", "quiet_end")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        hours, _, minutes = value.strip().partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError(f"{value!r} is not a time of day like 22:00")
        return f"{int(hours):02d}:{int(minutes):02d}"


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name like America/Chicago)"
        ) from None
    return value


def checked_plan(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A load's plan overrides; unknown or invalid CallPlan fields are refused here."""
    if value:
        CallPlan.model_validate(value)
    return value


class LoadIn(BaseModel):
    """A load as a TMS sends it (API, CSV row, editor row). Appointments are instants; their
    time zones say where they are (the driver's local time for quiet hours is the pickup's)."""

    model_config = ConfigDict(extra="forbid")

    load_number: str = Field(min_length=1, max_length=64)
    driver_name: str = Field(min_length=1, max_length=120)
    driver_phone: str | None = Field(default=None, max_length=32)
    origin: str = Field(min_length=1, max_length=120)
    destination: str = Field(min_length=1, max_length=120)
    pickup_at: datetime
    pickup_tz: str
    delivery_at: datetime
    delivery_tz: str
    status: LoadStatus = LoadStatus.IN_TRANSIT
    plan: dict[str, Any] | None = None  # CallPlan fields that differ from the defaults

    _not_blank = field_validator("load_number", "driver_name", "origin", "destination")(not_blank)
    _e164 = field_validator("driver_phone")(e164_phone)

    @field_validator("pickup_tz", "delivery_tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_time_zone(value.strip())

    @field_validator("pickup_at", "delivery_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a UTC offset (e.g. 2026-03-08T08:00:00-06:00)")
        return value

    @field_validator("plan")
    @classmethod
    def _plan_fields(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return checked_plan(value) or None

    @model_validator(mode="after")
    def _delivery_after_pickup(self) -> LoadIn:
        if self.delivery_at <= self.pickup_at:
            raise ValueError("delivery_at must be after pickup_at")
        return self


class Load(LoadIn):
    model_config = ConfigDict(extra="ignore")

    paused: bool = False
    unreachable_at: datetime | None = None  # the last attempt of a slot failed
    arrival_confirmed_at: datetime | None = None
    version: int = 1  # bumped by every change its call plan depends on
    created_at: datetime
    updated_at: datetime


class LoadPatch(BaseModel):
    """What a dispatcher changes on a load from the board or the editor."""

    model_config = ConfigDict(extra="forbid")

    status: LoadStatus | None = None
    paused: bool | None = None
    plan: dict[str, Any] | None = None  # replaces the overrides ({} resets to the defaults)
    clear_unreachable: bool = False

    _plan_fields = field_validator("plan")(checked_plan)


class PlannedSlot(BaseModel):
    """One slot a plan wants; the key makes re-expanding the same plan a no-op."""

    slot_key: str
    kind: SlotKind
    due_at: datetime
    engine: Engine
    max_attempts: int
    quiet_exempt: bool = False


class LoadSlots(BaseModel):
    """A load's planned slots, valid for the load `version` they were expanded from."""

    load_number: str
    version: int
    slots: list[PlannedSlot]


class AttemptPlacement(BaseModel):
    """The engine started the attempt's call under this id."""

    attempt_id: int
    provider: str
    provider_call_id: str


class ClaimedAttempt(BaseModel):
    """A slot this scheduler now owns for one attempt, with what placing the call needs."""

    attempt_id: int
    slot_id: int
    attempt: int  # 1-based
    max_attempts: int
    kind: SlotKind
    due_at: datetime
    engine: Engine
    load: Load


class OpenAttempt(BaseModel):
    """An attempt not settled yet, with its call's state when the call is known."""

    attempt_id: int
    slot_id: int
    attempt: int
    max_attempts: int
    kind: SlotKind
    load_number: str
    engine: Engine
    state: Literal["placing", "placed"]
    claimed_at: datetime
    lease_until: datetime
    placed_at: datetime | None = None
    provider: str | None = None
    provider_call_id: str | None = None
    call_status: str | None = None
    disconnection_reason: str | None = None
    user_turns: int | None = None
    call_outcome: str | None = None
    emergency_type: str | None = None
    load: Load


class Settlement(BaseModel):
    """How an attempt ended and what happens to its slot."""

    outcome: AttemptOutcome
    detail: str | None = None
    retry_at: datetime | None = None  # None: the slot is finished
    unreachable: bool = False  # the slot's last attempt failed: flag the load
    arrival_confirmed: bool = False  # after_delivery slots of the load are no longer needed


class AttemptRow(BaseModel):
    """One attempt as the load page lists it."""

    attempt_id: int
    slot_key: str
    kind: SlotKind
    due_at: datetime
    attempt: int
    engine: str
    state: str
    outcome: str | None = None
    claimed_at: datetime
    placed_at: datetime | None = None
    provider: str | None = None
    provider_call_id: str | None = None
    detail: str | None = None


class BoardFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str | None = None  # load number or driver name, substring, case-insensitive
    only_problems: bool = False  # emergencies, unreachable drivers, failed TMS deliveries
    include_inactive: bool = False  # delivered and cancelled loads too


class BoardRow(BaseModel):
    """One load on the dispatch board: the load, its last call, its next slot, deliveries."""

    load: Load
    last_call_id: str | None = None
    last_call_provider: str | None = None
    last_call_at: datetime | None = None
    last_call_status: str | None = None
    last_structured: dict[str, Any] | None = None
    last_emergency_type: str | None = None
    next_due_at: datetime | None = None
    next_kind: str | None = None
    attempts: int = 0  # attempts on the current (or last) slot
    open_emergency: bool = False
    webhook_failure: str | None = None  # the last TMS delivery that failed for good


class WebhookDelivery(BaseModel):
    id: int
    target: str
    provider: str
    provider_call_id: str
    load_number: str | None
    attempts: int  # including the one being made now
    created_at: datetime


class SlotRow(BaseModel):
    """One slot as the load page lists it."""

    slot_key: str
    kind: SlotKind
    due_at: datetime
    engine: str
    max_attempts: int
    quiet_exempt: bool
    state: SlotState
    attempts: int
    next_attempt_at: datetime
    last_outcome: str | None = None
