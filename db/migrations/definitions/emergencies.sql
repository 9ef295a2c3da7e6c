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

create or replace trigger calllog_keep_escalation_status
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
