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
