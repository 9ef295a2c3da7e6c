-- Bot sessions the voice server registers (POST /dispatch/sessions on any bot process): the
-- call a one-time token joins, until it expires. In the database, not one bot's memory, so any
-- bot process resolves any token; joining sets joined_at in one UPDATE whose WHERE is
-- re-checked after a concurrent one commits, so a token is spent once however many processes
-- race for it. SQLite: sqlite_0014_bot_sessions.sql.
create table bot_sessions (
    token            text primary key,
    provider_call_id text not null,
    transport        text not null check (transport in ('webrtc', 'twilio')),
    context          jsonb not null default '{}'::jsonb,
    created_at       timestamptz not null default now(),
    expires_at       timestamptz not null,
    joined_at        timestamptz,
    joined_by        text
);
create index bot_sessions_by_call on bot_sessions (provider_call_id, expires_at);
create index bot_sessions_by_expiry on bot_sessions (expires_at);

alter table bot_sessions enable row level security;
