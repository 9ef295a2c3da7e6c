-- Loads, call slots, call attempts and the webhook outbox: the same tables and columns as
-- db/migrations/0010_loads_scheduler.sql. Timestamps are UTC text; plan is JSON text.
-- One scheduler runs per SQLite file (it holds a lock file), so claims need no row locks.

CREATE TABLE loads (
    load_number           TEXT PRIMARY KEY CHECK (length(trim(load_number)) > 0),
    driver_name           TEXT NOT NULL CHECK (length(trim(driver_name)) > 0),
    driver_phone          TEXT,
    origin                TEXT NOT NULL,
    destination           TEXT NOT NULL,
    pickup_at             TEXT NOT NULL,
    pickup_tz             TEXT NOT NULL,
    delivery_at           TEXT NOT NULL,
    delivery_tz           TEXT NOT NULL,
    status                TEXT NOT NULL DEFAULT 'in_transit'
        CHECK (status IN ('planned', 'in_transit', 'delivered', 'cancelled')),
    plan                  TEXT,
    paused                INTEGER NOT NULL DEFAULT 0,
    unreachable_at        TEXT,
    arrival_confirmed_at  TEXT,
    version               INTEGER NOT NULL DEFAULT 1,
    planned_version       INTEGER NOT NULL DEFAULT 0,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    CHECK (delivery_at > pickup_at)
);
CREATE INDEX loads_to_plan ON loads (load_number) WHERE planned_version < version;

CREATE TABLE call_slots (
    id               INTEGER PRIMARY KEY,
    load_number      TEXT NOT NULL REFERENCES loads (load_number) ON DELETE CASCADE,
    slot_key         TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('interval', 'before_delivery',
                                                   'after_delivery', 'call_now',
                                                   'emergency_followup')),
    due_at           TEXT NOT NULL,
    engine           TEXT NOT NULL CHECK (engine IN ('retell', 'pipecat', 'simulated')),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    quiet_exempt     INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL DEFAULT 'due'
        CHECK (state IN ('due', 'calling', 'done', 'unreachable', 'skipped', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT NOT NULL,
    last_outcome     TEXT,
    updated_at       TEXT NOT NULL,
    UNIQUE (load_number, slot_key)
);
CREATE INDEX call_slots_due ON call_slots (engine, next_attempt_at) WHERE state = 'due';
CREATE INDEX call_slots_load ON call_slots (load_number, next_attempt_at);

CREATE TABLE call_attempts (
    id                INTEGER PRIMARY KEY,
    slot_id           INTEGER NOT NULL REFERENCES call_slots (id) ON DELETE CASCADE,
    attempt           INTEGER NOT NULL CHECK (attempt >= 1),
    load_number       TEXT NOT NULL,
    engine            TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('placing', 'placed', 'settled')),
    outcome           TEXT,
    claimed_by        TEXT NOT NULL,
    claimed_at        TEXT NOT NULL,
    lease_until       TEXT NOT NULL,
    placed_at         TEXT,
    provider          TEXT,
    provider_call_id  TEXT,
    detail            TEXT,
    settled_at        TEXT,
    UNIQUE (slot_id, attempt)
);
CREATE INDEX call_attempts_open ON call_attempts (engine) WHERE state <> 'settled';
CREATE INDEX call_attempts_load ON call_attempts (load_number, id DESC);
CREATE INDEX call_attempts_call ON call_attempts (provider, provider_call_id);

CREATE TABLE webhook_outbox (
    id                INTEGER PRIMARY KEY,
    target            TEXT NOT NULL,
    provider          TEXT NOT NULL,
    provider_call_id  TEXT NOT NULL,
    load_number       TEXT,
    state             TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TEXT NOT NULL,
    last_status       INTEGER,
    last_error        TEXT,
    created_at        TEXT NOT NULL,
    delivered_at      TEXT,
    UNIQUE (target, provider, provider_call_id)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (target, next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_outbox_load ON webhook_outbox (load_number, id DESC);
