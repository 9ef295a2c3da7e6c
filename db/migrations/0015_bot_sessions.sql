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

create or replace function dispatch_bot_session_json(s bot_sessions)
returns json language sql stable as $$
    select json_build_object('token', s.token, 'provider_call_id', s.provider_call_id,
                             'transport', s.transport, 'context', s.context,
                             'expires_at', s.expires_at)
$$;

-- Registers a session; sessions expired for over a day are dropped on the way.
create or replace function register_bot_session(
    p_token text, p_provider_call_id text, p_transport text, p_context jsonb,
    p_expires_at timestamptz
)
returns boolean language plpgsql volatile as $$
begin
    delete from bot_sessions where expires_at < now() - interval '1 day';
    insert into bot_sessions (token, provider_call_id, transport, context, expires_at)
    values (p_token, p_provider_call_id, p_transport, coalesce(p_context, '{}'::jsonb),
            p_expires_at);
    return true;
end
$$;

-- Spends the token: the session when it was waiting and unexpired at p_now, else null.
create or replace function join_bot_session(p_token text, p_joined_by text, p_now timestamptz)
returns json language sql volatile as $$
    update bot_sessions s set joined_at = p_now, joined_by = p_joined_by
    where s.token = p_token and s.joined_at is null and s.expires_at > p_now
    returning dispatch_bot_session_json(s)
$$;

-- The call's newest session still waiting to be joined at p_now, else null.
create or replace function waiting_bot_session(p_provider_call_id text, p_now timestamptz)
returns json language sql stable as $$
    select dispatch_bot_session_json(s) from bot_sessions s
    where s.provider_call_id = p_provider_call_id and s.joined_at is null
      and s.expires_at > p_now
    order by s.expires_at desc limit 1
$$;

do $$
declare
    fn regprocedure;
begin
    if exists (select 1 from pg_roles where rolname = 'anon') then
        revoke all on bot_sessions from anon;
    end if;
    if exists (select 1 from pg_roles where rolname = 'authenticated') then
        revoke all on bot_sessions from authenticated;
    end if;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
        grant select, insert, update, delete on bot_sessions to service_role;
    end if;
    for fn in
        select p.oid::regprocedure
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = current_schema()
          and p.proname in ('dispatch_bot_session_json', 'register_bot_session',
                            'join_bot_session', 'waiting_bot_session')
    loop
        execute format('revoke all on function %s from public', fn);
        if exists (select 1 from pg_roles where rolname = 'anon') then
            execute format('revoke all on function %s from anon', fn);
        end if;
        if exists (select 1 from pg_roles where rolname = 'authenticated') then
            execute format('revoke all on function %s from authenticated', fn);
        end if;
        if exists (select 1 from pg_roles where rolname = 'service_role') then
            execute format('grant execute on function %s to service_role', fn);
        end if;
    end loop;
end
$$;
