-- Loads, their call slots and attempts (scheduled check calls), and the webhook outbox.
-- db/sqlite_0009_loads_scheduler.sql is the embedded equivalent; names match db/load_models.py.
-- Work is rows: a scheduler claims due slots with FOR UPDATE SKIP LOCKED, so any number of
-- schedulers place each (slot, attempt) at most once, and a crashed one's lease simply lapses.

create table if not exists loads (
    load_number text primary key check (btrim(load_number) <> ''),
    driver_name text not null check (btrim(driver_name) <> ''),
    driver_phone text,
    origin text not null,
    destination text not null,
    pickup_at timestamptz not null,
    pickup_tz text not null,
    delivery_at timestamptz not null,
    delivery_tz text not null,
    status text not null default 'in_transit'
        check (status in ('planned', 'in_transit', 'delivered', 'cancelled')),
    plan jsonb check (jsonb_typeof(plan) = 'object'),
    paused boolean not null default false,
    unreachable_at timestamptz,
    arrival_confirmed_at timestamptz,
    version bigint not null default 1,
    planned_version bigint not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check (delivery_at > pickup_at)
);
create index if not exists loads_to_plan on loads (load_number) where planned_version < version;

create table if not exists call_slots (
    id bigint generated always as identity primary key,
    load_number text not null references loads (load_number) on delete cascade,
    slot_key text not null,
    kind text not null check (kind in ('interval', 'before_delivery', 'after_delivery',
                                       'call_now', 'emergency_followup')),
    due_at timestamptz not null,
    engine text not null check (engine in ('retell', 'pipecat', 'simulated')),
    max_attempts integer not null check (max_attempts >= 1),
    quiet_exempt boolean not null default false,
    state text not null default 'due'
        check (state in ('due', 'calling', 'done', 'unreachable', 'skipped', 'cancelled')),
    attempts integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz not null,
    last_outcome text,
    updated_at timestamptz not null default now(),
    unique (load_number, slot_key)
);
create index if not exists call_slots_due on call_slots (engine, next_attempt_at) where state = 'due';
create index if not exists call_slots_load on call_slots (load_number, next_attempt_at);

create table if not exists call_attempts (
    id bigint generated always as identity primary key,
    slot_id bigint not null references call_slots (id) on delete cascade,
    attempt integer not null check (attempt >= 1),
    load_number text not null,
    engine text not null,
    state text not null check (state in ('placing', 'placed', 'settled')),
    outcome text,
    claimed_by text not null,
    claimed_at timestamptz not null,
    lease_until timestamptz not null,
    placed_at timestamptz,
    provider text,
    provider_call_id text,
    detail text,
    settled_at timestamptz,
    unique (slot_id, attempt)
);
create index if not exists call_attempts_open on call_attempts (engine) where state <> 'settled';
create index if not exists call_attempts_load on call_attempts (load_number, id desc);
create index if not exists call_attempts_call on call_attempts (provider, provider_call_id);

-- Outbound webhooks waiting for delivery, one row per (target, call): its delivery id.
create table if not exists webhook_outbox (
    id bigint generated always as identity primary key,
    target text not null,
    provider text not null,
    provider_call_id text not null,
    load_number text,
    state text not null default 'pending' check (state in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    last_status integer,
    last_error text,
    created_at timestamptz not null default now(),
    delivered_at timestamptz,
    unique (target, provider, provider_call_id)
);
create index if not exists webhook_outbox_due on webhook_outbox (target, next_attempt_at)
    where state = 'pending';
create index if not exists webhook_outbox_load on webhook_outbox (load_number, id desc);

alter table loads enable row level security;
alter table call_slots enable row level security;
alter table call_attempts enable row level security;
alter table webhook_outbox enable row level security;
