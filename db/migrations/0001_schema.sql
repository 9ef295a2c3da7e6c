-- Tables, constraints and indexes. The same file is what a Supabase user runs in the SQL editor.
-- db/sqlite_schema.sql is the embedded equivalent; column names match db/models.py.

create table if not exists drivers (
    id bigint generated always as identity primary key,
    name text not null check (btrim(name) <> ''),
    phone text unique,
    created_at timestamptz not null default now()
);
-- A driver known only by name is unique by name (ensure_driver without a phone).
create unique index if not exists drivers_name_without_phone
    on drivers (name) where phone is null;

create table if not exists agents (
    id bigint generated always as identity primary key,
    provider text not null check (provider in ('retell', 'pipecat')),
    name text not null check (btrim(name) <> ''),
    external_id text,
    created_at timestamptz not null default now()
);
create unique index if not exists agents_provider_external_id
    on agents (provider, external_id) where external_id is not null;
create unique index if not exists agents_provider_name_without_external_id
    on agents (provider, name) where external_id is null;

create table if not exists calllog (
    id bigint generated always as identity primary key,
    provider text not null check (provider in ('retell', 'pipecat')),
    provider_call_id text not null check (provider_call_id <> ''),
    driver_id bigint references drivers (id),
    agent_id bigint references agents (id),
    load_number text,
    origin text,
    destination text,
    appointment text,
    status text not null default 'registered'
        check (status in ('registered', 'ongoing', 'ended', 'error')),
    scenario text,
    call_type text,
    from_number text,
    to_number text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    started_at timestamptz,
    ended_at timestamptz,
    duration_secs double precision check (duration_secs >= 0),
    interruptions_est integer check (interruptions_est >= 0),
    tokens_estimated integer check (tokens_estimated >= 0),
    keyword_hits jsonb check (jsonb_typeof(keyword_hits) = 'object'),
    sentiment double precision,
    transcript jsonb not null default '[]' check (jsonb_typeof(transcript) = 'array'),
    structured jsonb check (jsonb_typeof(structured) = 'object'),
    call_outcome text,
    driver_status text,
    emergency_type text,
    recording_url text,
    disconnection_reason text,
    latency jsonb check (jsonb_typeof(latency) = 'object'),
    cost double precision,
    call_analysis jsonb check (jsonb_typeof(call_analysis) = 'object'),
    metadata jsonb check (jsonb_typeof(metadata) = 'object'),
    error text,
    -- latency's end-to-end median as a column, so metrics read it from the covering index.
    e2e_latency_ms double precision generated always as (
        case when jsonb_typeof(latency -> 'e2e_p50_ms') = 'number'
             then (latency ->> 'e2e_p50_ms')::double precision end
    ) stored,
    -- Only what was said is searchable, not the role labels.
    search_tsv tsvector generated always as (
        to_tsvector('english'::regconfig, jsonb_path_query_array(transcript, '$[*].content'))
    ) stored,
    unique (provider, provider_call_id)
);

-- Listing newest first (and export's keyset pagination), with or without a provider filter.
-- The INCLUDE columns let the metrics functions aggregate with index-only scans.
create index if not exists calllog_provider_created_at
    on calllog (provider, created_at desc, id desc)
    include (status, driver_id, load_number, duration_secs, sentiment, interruptions_est,
             tokens_estimated, call_outcome, driver_status, emergency_type, e2e_latency_ms,
             keyword_hits);
create index if not exists calllog_created_at on calllog (created_at desc, id desc);
create index if not exists calllog_call_outcome on calllog (call_outcome, created_at desc);
create index if not exists calllog_driver_status on calllog (driver_status, created_at desc);
create index if not exists calllog_emergency_type on calllog (emergency_type, created_at desc)
    where emergency_type is not null;
create index if not exists calllog_status on calllog (status, created_at desc);
create index if not exists calllog_driver_id on calllog (driver_id, created_at desc);
create index if not exists calllog_agent_id on calllog (agent_id);
create index if not exists calllog_load_number on calllog (load_number);
create index if not exists calllog_duration_secs on calllog (duration_secs);
create index if not exists calllog_search_tsv on calllog using gin (search_tsv);

create table if not exists call_events (
    id bigint generated always as identity primary key,
    provider text not null check (provider in ('retell', 'pipecat')),
    provider_call_id text not null,
    event_type text not null check (event_type <> ''),
    idempotency_key text not null unique check (idempotency_key <> ''),
    payload jsonb not null,
    received_at timestamptz not null default now()
);
create index if not exists call_events_call on call_events (provider, provider_call_id, received_at);
