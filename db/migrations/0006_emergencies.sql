-- Emergencies: an honest escalation status, and alerts the office acknowledges.
--
-- 1. The structured result's escalation_status says what happened (agent.vocabulary
--    EscalationStatus). Before, every escalated call said 'Connected to Human Dispatcher'
--    whether or not anyone answered: all that was ever known is that a transfer was asked for.
-- 2. A provider's word on a transfer (connected, failed) is never downgraded by a later write
--    of the agent's own view (requested): the status only moves to a higher rank, whatever
--    order the socket's result and Retell's transfer webhooks arrive in.
-- 3. emergency_alerts: one open alert per emergency call until a manager acknowledges it;
--    emergency_alert_log keeps who did what and when (raised, acknowledged), never deleted.

update calllog
set structured = jsonb_set(structured, '{escalation_status}', '"Transfer Requested"')
where structured ->> 'escalation_status' = 'Connected to Human Dispatcher';

-- agent.vocabulary.EscalationStatus.rank (tests/db/test_emergency_store.py keeps them equal).
create or replace function dispatch_escalation_rank(p_status text)
returns int language sql immutable as $$
    select case p_status
        when 'Transfer Connected' then 3
        when 'Transfer Failed' then 2
        when 'Transfer Requested' then 1
        when 'Callback Requested' then 1
        else 0
    end
$$;

create or replace function dispatch_keep_escalation_status()
returns trigger language plpgsql as $$
begin
    if old.structured is not null and new.structured is not null
       and dispatch_escalation_rank(old.structured ->> 'escalation_status')
           > dispatch_escalation_rank(new.structured ->> 'escalation_status') then
        new.structured := jsonb_set(
            new.structured, '{escalation_status}', old.structured -> 'escalation_status');
    end if;
    return new;
end
$$;

create trigger calllog_keep_escalation_status
    before update of structured on calllog
    for each row execute function dispatch_keep_escalation_status();

-- The provider's word on a transfer, merged into the call's structured result atomically.
create or replace function set_escalation_status(
    p_provider text, p_provider_call_id text, p_status text
)
returns boolean language plpgsql volatile as $$
declare
    changed bigint;
begin
    if dispatch_escalation_rank(p_status) = 0 then
        raise exception using errcode = '22023',
            message = format('unknown escalation status: %s', p_status);
    end if;
    update calllog
    set structured = jsonb_set(coalesce(structured, '{}'::jsonb), '{escalation_status}',
                               to_jsonb(p_status)),
        updated_at = now()
    where provider = p_provider and provider_call_id = p_provider_call_id
    returning id into changed;
    return changed is not null;
end
$$;

create table emergency_alerts (
    id                bigint generated always as identity primary key,
    provider          text not null check (provider in ('retell', 'pipecat')),
    provider_call_id  text not null check (length(provider_call_id) > 0),
    raised_at         timestamptz not null default now(),
    acknowledged_at   timestamptz,
    acknowledged_by   text check (acknowledged_by is null or length(trim(acknowledged_by)) > 0),
    check ((acknowledged_at is null) = (acknowledged_by is null)),
    unique (provider, provider_call_id)
);
-- The dashboard reads the open ones, newest first.
create index emergency_alerts_open_idx on emergency_alerts (raised_at desc)
    where acknowledged_at is null;

create table emergency_alert_log (
    id         bigint generated always as identity primary key,
    alert_id   bigint not null references emergency_alerts (id),
    action     text not null check (action in ('raised', 'acknowledged')),
    actor      text,
    at         timestamptz not null default now()
);
create index emergency_alert_log_alert_idx on emergency_alert_log (alert_id, at);

-- An alert with its call, as db.models.EmergencyAlert.
create or replace function dispatch_alert_json(a emergency_alerts)
returns json language sql stable as $$
    select json_build_object(
        'id', a.id, 'provider', a.provider, 'provider_call_id', a.provider_call_id,
        'raised_at', a.raised_at, 'acknowledged_at', a.acknowledged_at,
        'acknowledged_by', a.acknowledged_by,
        'driver_name', d.name, 'load_number', c.load_number,
        'emergency_type', c.emergency_type,
        'injury_status', c.structured ->> 'injury_status',
        'safety_status', c.structured ->> 'safety_status',
        'emergency_location', c.structured ->> 'emergency_location',
        'escalation_status', c.structured ->> 'escalation_status',
        'driver_phone', case when c.metadata ->> 'direction' = 'inbound'
                             then c.from_number else c.to_number end
    )
    from (select 1) as one
    left join calllog c on c.provider = a.provider and c.provider_call_id = a.provider_call_id
    left join drivers d on d.id = c.driver_id
$$;

-- True when this call's alert is new (raised now); an alert is raised once per call.
create or replace function raise_emergency_alert(p_provider text, p_provider_call_id text)
returns boolean language plpgsql volatile as $$
declare
    new_id bigint;
begin
    insert into emergency_alerts (provider, provider_call_id)
    values (p_provider, p_provider_call_id)
    on conflict (provider, provider_call_id) do nothing
    returning id into new_id;
    if new_id is null then
        return false;
    end if;
    insert into emergency_alert_log (alert_id, action) values (new_id, 'raised');
    return true;
end
$$;

create or replace function open_emergency_alerts(p_limit int)
returns json language sql stable as $$
    select json_build_object(
        'items', coalesce((
            select json_agg(dispatch_alert_json(a) order by a.raised_at desc, a.id desc)
            from emergency_alerts a
            where a.id in (select id from emergency_alerts where acknowledged_at is null
                           order by raised_at desc, id desc limit greatest(p_limit, 0))
        ), '[]'::json),
        'total', (select count(*) from emergency_alerts where acknowledged_at is null)
    )
$$;

-- Acknowledges an open alert once (a second acknowledgement changes nothing); null if unknown.
create or replace function acknowledge_emergency_alert(p_alert_id bigint, p_by text)
returns json language plpgsql volatile as $$
declare
    alert emergency_alerts;
begin
    if p_by is null or length(trim(p_by)) = 0 then
        raise exception using errcode = '22023', message = 'who acknowledges must be named';
    end if;
    update emergency_alerts
    set acknowledged_at = now(), acknowledged_by = trim(p_by)
    where id = p_alert_id and acknowledged_at is null
    returning * into alert;
    if alert.id is not null then
        insert into emergency_alert_log (alert_id, action, actor)
        values (alert.id, 'acknowledged', trim(p_by));
    else
        select * into alert from emergency_alerts where id = p_alert_id;
        if alert.id is null then
            return null;
        end if;
    end if;
    return dispatch_alert_json(alert);
end
$$;

create or replace function emergency_alert_log(p_provider text, p_provider_call_id text)
returns json language sql stable as $$
    select coalesce(json_agg(json_build_object(
        'alert_id', l.alert_id, 'action', l.action, 'actor', l.actor, 'at', l.at
    ) order by l.at, l.id), '[]'::json)
    from emergency_alert_log l join emergency_alerts a on a.id = l.alert_id
    where a.provider = p_provider and a.provider_call_id = p_provider_call_id
$$;

-- Supabase: as in 0003_rls.sql, only the service role reads, writes and calls these.
alter table emergency_alerts enable row level security;
alter table emergency_alert_log enable row level security;

do $$
declare
    fn regprocedure;
begin
    if exists (select 1 from pg_roles where rolname = 'anon') then
        revoke all on emergency_alerts, emergency_alert_log from anon;
    end if;
    if exists (select 1 from pg_roles where rolname = 'authenticated') then
        revoke all on emergency_alerts, emergency_alert_log from authenticated;
    end if;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
        grant select, insert, update, delete on emergency_alerts, emergency_alert_log
            to service_role;
        grant usage, select on all sequences in schema public to service_role;
    end if;
    for fn in
        select p.oid::regprocedure
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = current_schema()
          and p.proname in (
              'dispatch_escalation_rank', 'dispatch_keep_escalation_status',
              'set_escalation_status', 'dispatch_alert_json', 'raise_emergency_alert',
              'open_emergency_alerts', 'acknowledge_emergency_alert', 'emergency_alert_log')
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
