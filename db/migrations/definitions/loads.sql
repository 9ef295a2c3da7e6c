-- A load as db.models Load.
create or replace function dispatch_load_json(l loads)
returns jsonb language sql stable as $$
    select to_jsonb(l) - 'planned_version'
$$;

-- Bulk upsert by load number, all rows or none (one statement). A change to anything the
-- call plan reads bumps `version`, so the scheduler re-expands that load's slots.
create or replace function upsert_loads(p_loads jsonb)
returns integer language plpgsql as $$
declare
    written integer;
begin
    if jsonb_typeof(p_loads) is distinct from 'array' then
        raise exception using errcode = '22023', message = 'loads must be a JSON array';
    end if;
    insert into loads as l (load_number, driver_name, driver_phone, origin, destination,
                            pickup_at, pickup_tz, delivery_at, delivery_tz, status, plan)
    select r.load_number, r.driver_name, r.driver_phone, r.origin, r.destination, r.pickup_at,
           r.pickup_tz, r.delivery_at, r.delivery_tz, coalesce(r.status, 'in_transit'), r.plan
    from jsonb_to_recordset(p_loads) as r(
        load_number text, driver_name text, driver_phone text, origin text, destination text,
        pickup_at timestamptz, pickup_tz text, delivery_at timestamptz, delivery_tz text,
        status text, plan jsonb)
    on conflict (load_number) do update set
        driver_name = excluded.driver_name, driver_phone = excluded.driver_phone,
        origin = excluded.origin, destination = excluded.destination,
        pickup_at = excluded.pickup_at, pickup_tz = excluded.pickup_tz,
        delivery_at = excluded.delivery_at, delivery_tz = excluded.delivery_tz,
        status = excluded.status, plan = excluded.plan,
        version = l.version + (
            (l.pickup_at, l.pickup_tz, l.delivery_at, l.delivery_tz, l.status, l.plan)
            is distinct from
            (excluded.pickup_at, excluded.pickup_tz, excluded.delivery_at, excluded.delivery_tz,
             excluded.status, excluded.plan))::int,
        updated_at = now();
    get diagnostics written = row_count;
    return written;
end
$$;

create or replace function get_load(p_load_number text)
returns jsonb language sql stable as $$
    select dispatch_load_json(l) from loads l where l.load_number = p_load_number
$$;

create or replace function update_load(p_load_number text, p_patch jsonb)
returns jsonb language plpgsql as $$
declare
    result loads;
begin
    update loads l set
        status = coalesce(p_patch ->> 'status', l.status),
        paused = coalesce((p_patch ->> 'paused')::boolean, l.paused),
        plan = case when p_patch ? 'plan' and jsonb_typeof(p_patch -> 'plan') = 'object'
                    then nullif(p_patch -> 'plan', '{}'::jsonb) else l.plan end,
        unreachable_at = case when coalesce((p_patch ->> 'clear_unreachable')::boolean, false)
                              then null else l.unreachable_at end,
        version = l.version + 1,
        updated_at = now()
    where l.load_number = p_load_number
    returning l.* into result;
    if not found then
        return null;
    end if;
    return dispatch_load_json(result);
end
$$;

create or replace function loads_to_plan(p_limit integer)
returns jsonb language sql stable as $$
    select coalesce(jsonb_agg(dispatch_load_json(l)), '[]'::jsonb)
    from loads l
    where l.load_number in (select load_number from loads where planned_version < version
                            order by load_number limit p_limit)
$$;

-- Each {load_number, version, slots} is applied as one load's plan: new slots added, due slots
-- the plan no longer has (never attempted) cancelled; skipped when the load changed meanwhile.
-- Returns how many loads were planned.
create or replace function sync_loads_slots(p_plans jsonb)
returns integer language plpgsql as $$
declare
    item jsonb;
    planned integer := 0;
begin
    for item in select value from jsonb_array_elements(p_plans) loop
        perform 1 from loads
        where load_number = item ->> 'load_number' and version = (item ->> 'version')::bigint
        for update;
        if not found then
            continue;
        end if;
        insert into call_slots (load_number, slot_key, kind, due_at, engine, max_attempts,
                                quiet_exempt, next_attempt_at)
        select item ->> 'load_number', s.slot_key, s.kind, s.due_at, s.engine, s.max_attempts,
               coalesce(s.quiet_exempt, false), s.due_at
        from jsonb_to_recordset(item -> 'slots') as s(
            slot_key text, kind text, due_at timestamptz, engine text, max_attempts integer,
            quiet_exempt boolean)
        on conflict (load_number, slot_key) do update set
            engine = excluded.engine, max_attempts = excluded.max_attempts, updated_at = now()
            where call_slots.state = 'due' and call_slots.attempts = 0;
        update call_slots s set state = 'cancelled', updated_at = now()
        where s.load_number = item ->> 'load_number' and s.state = 'due' and s.attempts = 0
          and s.kind in ('interval', 'before_delivery', 'after_delivery')
          and not exists (select 1 from jsonb_array_elements(item -> 'slots') e
                          where e ->> 'slot_key' = s.slot_key);
        update loads set planned_version = (item ->> 'version')::bigint
        where load_number = item ->> 'load_number';
        planned := planned + 1;
    end loop;
    return planned;
end
$$;

create or replace function mark_attempts_placed(p_placements jsonb, p_now timestamptz)
returns integer language plpgsql as $$
declare
    marked integer;
begin
    update call_attempts a set provider = p.provider, provider_call_id = p.provider_call_id,
        placed_at = p_now, state = case when a.state = 'placing' then 'placed' else a.state end
    from jsonb_to_recordset(p_placements) as p(attempt_id bigint, provider text,
                                              provider_call_id text)
    where a.id = p.attempt_id;
    get diagnostics marked = row_count;
    return marked;
end
$$;

-- Claim up to p_limit due slots of one engine within its concurrency cap (attempts not settled
-- count against it). Each slot taken is either claimed for its next attempt or skipped: first
-- due more than p_late_secs ago and never attempted (when p_late_secs is not null), an
-- after-delivery call once arrival is confirmed, or a load delivered or cancelled. Slots of
-- paused loads wait. Rows another scheduler holds are passed over (SKIP LOCKED).
create or replace function claim_due_slots(
    p_engine text, p_now timestamptz, p_limit integer, p_cap integer, p_owner text,
    p_lease_secs double precision, p_late_secs double precision)
returns jsonb language plpgsql as $$
declare
    in_flight integer;
    room integer;
    claimed jsonb;
begin
    -- The cap is shared by every scheduler: claims of one engine take turns (a few ms each).
    perform pg_advisory_xact_lock(hashtext('dispatch_claim:' || p_engine));
    select count(*) into in_flight from call_attempts
    where engine = p_engine and state <> 'settled';
    room := least(p_limit, p_cap - in_flight);
    if room <= 0 then
        return '[]'::jsonb;
    end if;
    with due as (
        select s.id,
               case when l.status in ('delivered', 'cancelled') then 'load_' || l.status
                    when s.kind = 'after_delivery' and l.arrival_confirmed_at is not null
                        then 'arrival_confirmed'
                    when p_late_secs is not null and s.attempts = 0
                         and s.due_at < p_now - make_interval(secs => p_late_secs)
                        then 'too_late'
               end as skip_reason
        from call_slots s join loads l on l.load_number = s.load_number
        where s.engine = p_engine and s.state = 'due' and s.next_attempt_at <= p_now
          and (not l.paused or l.status in ('delivered', 'cancelled'))
        order by s.next_attempt_at, s.id
        limit room
        for update of s skip locked
    ), taken as (
        update call_slots s set
            state = case when due.skip_reason is null then 'calling' else 'skipped' end,
            attempts = s.attempts + (due.skip_reason is null)::int,
            last_outcome = coalesce(due.skip_reason, s.last_outcome),
            updated_at = p_now
        from due where s.id = due.id
        returning s.*, due.skip_reason
    ), attempts as (
        insert into call_attempts (slot_id, attempt, load_number, engine, state, claimed_by,
                                   claimed_at, lease_until)
        select t.id, t.attempts, t.load_number, t.engine, 'placing', p_owner, p_now,
               p_now + make_interval(secs => p_lease_secs)
        from taken t where t.skip_reason is null
        returning id, slot_id, attempt
    )
    select coalesce(jsonb_agg(jsonb_build_object(
        'attempt_id', a.id, 'slot_id', t.id, 'attempt', a.attempt,
        'max_attempts', t.max_attempts, 'kind', t.kind, 'due_at', t.due_at,
        'engine', t.engine, 'load', dispatch_load_json(l)) order by t.next_attempt_at), '[]')
    into claimed
    from attempts a join taken t on t.id = a.slot_id join loads l on l.load_number = t.load_number;
    return claimed;
end
$$;

create or replace function add_call_slot(p_load_number text, p_slot jsonb)
returns boolean language plpgsql as $$
declare
    added integer;
begin
    insert into call_slots (load_number, slot_key, kind, due_at, engine, max_attempts,
                            quiet_exempt, next_attempt_at)
    select p_load_number, p_slot ->> 'slot_key', p_slot ->> 'kind',
           (p_slot ->> 'due_at')::timestamptz, p_slot ->> 'engine',
           (p_slot ->> 'max_attempts')::integer,
           coalesce((p_slot ->> 'quiet_exempt')::boolean, false),
           (p_slot ->> 'due_at')::timestamptz
    on conflict (load_number, slot_key) do nothing;
    get diagnostics added = row_count;
    return added = 1;
end
$$;

-- Attempts that can be settled now: placed ones whose call has ended, placed ones older than
-- p_stale_before, and placing ones whose lease lapsed (their scheduler stopped mid-placement).
create or replace function open_attempts(
    p_now timestamptz, p_stale_before timestamptz, p_limit integer)
returns jsonb language sql stable as $$
    select coalesce(jsonb_agg(q.item), '[]'::jsonb) from (
    select jsonb_build_object(
        'attempt_id', a.id, 'slot_id', a.slot_id, 'attempt', a.attempt,
        'max_attempts', s.max_attempts, 'kind', s.kind, 'load_number', a.load_number,
        'engine', a.engine, 'state', a.state, 'claimed_at', a.claimed_at,
        'lease_until', a.lease_until, 'placed_at', a.placed_at, 'provider', a.provider,
        'provider_call_id', a.provider_call_id, 'call_status', c.status,
        'disconnection_reason', c.disconnection_reason,
        'user_turns', (select count(*) from jsonb_array_elements(c.transcript) t
                       where t ->> 'role' = 'user'),
        'call_outcome', c.call_outcome, 'emergency_type', c.emergency_type,
        'load', dispatch_load_json(l)) as item
    from call_attempts a
    join call_slots s on s.id = a.slot_id
    join loads l on l.load_number = a.load_number
    left join calllog c on c.provider = a.provider and c.provider_call_id = a.provider_call_id
    where a.state <> 'settled' and ((a.state = 'placing' and a.lease_until < p_now)
       or (a.state = 'placed' and (c.status in ('ended', 'error') or a.placed_at < p_stale_before)))
    order by a.id
    limit p_limit) q
$$;

-- Settle one attempt (once) and move its slot on: done, due again at retry_at, or unreachable.
create or replace function settle_attempt(p_attempt_id bigint, p_settlement jsonb,
                                          p_now timestamptz)
returns boolean language plpgsql as $$
declare
    a call_attempts;
    retry_at timestamptz := (p_settlement ->> 'retry_at')::timestamptz;
    outcome text := p_settlement ->> 'outcome';
begin
    update call_attempts set state = 'settled', outcome = p_settlement ->> 'outcome',
        detail = coalesce(p_settlement ->> 'detail', detail), settled_at = p_now
    where id = p_attempt_id and state <> 'settled'
    returning * into a;
    if not found then
        return false;
    end if;
    update call_slots set
        state = case when retry_at is not null then 'due'
                     when outcome = 'completed' then 'done' else 'unreachable' end,
        next_attempt_at = coalesce(retry_at, next_attempt_at),
        last_outcome = outcome, updated_at = p_now
    where id = a.slot_id;
    if coalesce((p_settlement ->> 'unreachable')::boolean, false) then
        update loads set unreachable_at = p_now, updated_at = p_now
        where load_number = a.load_number;
    elsif outcome = 'completed' then
        update loads set unreachable_at = null, updated_at = p_now
        where load_number = a.load_number and unreachable_at is not null;
    end if;
    if coalesce((p_settlement ->> 'arrival_confirmed')::boolean, false) then
        update loads set arrival_confirmed_at = coalesce(arrival_confirmed_at, p_now)
        where load_number = a.load_number;
    end if;
    return true;
end
$$;

create or replace function load_attempts(p_load_number text)
returns jsonb language sql stable as $$
    select coalesce(jsonb_agg(jsonb_build_object(
        'attempt_id', a.id, 'slot_key', s.slot_key, 'kind', s.kind, 'due_at', s.due_at,
        'attempt', a.attempt, 'engine', a.engine, 'state', a.state, 'outcome', a.outcome,
        'claimed_at', a.claimed_at, 'placed_at', a.placed_at, 'provider', a.provider,
        'provider_call_id', a.provider_call_id, 'detail', a.detail) order by a.id desc),
        '[]'::jsonb)
    from call_attempts a join call_slots s on s.id = a.slot_id
    where a.load_number = p_load_number
$$;

create or replace function load_slots(p_load_number text)
returns jsonb language sql stable as $$
    select coalesce(jsonb_agg(jsonb_build_object(
        'slot_key', s.slot_key, 'kind', s.kind, 'due_at', s.due_at, 'engine', s.engine,
        'max_attempts', s.max_attempts, 'quiet_exempt', s.quiet_exempt, 'state', s.state,
        'attempts', s.attempts, 'next_attempt_at', s.next_attempt_at,
        'last_outcome', s.last_outcome) order by s.next_attempt_at, s.id), '[]'::jsonb)
    from call_slots s where s.load_number = p_load_number
$$;

-- Every load on the board: open emergencies first, then unreachable drivers, then by next call.
create or replace function dispatch_board(p_filters jsonb)
returns jsonb language sql stable as $$
    with rows as (
        select l, lc, nx, att.attempts, wf.last_error, em.emergency_type,
               (em.emergency_type is not null) as open_emergency
        from loads l
        left join lateral (
            select c.provider, c.provider_call_id, c.created_at, c.status, c.structured
            from calllog c where c.load_number = l.load_number
            order by c.created_at desc, c.id desc limit 1
        ) lc on true
        -- An emergency stays open until a later call with a real answer says otherwise
        -- ('Incomplete': agent.vocabulary CallOutcome.INCOMPLETE, held equal by tests/scheduler).
        left join lateral (
            select c.emergency_type from calllog c
            where c.load_number = l.load_number and c.call_outcome <> 'Incomplete'
            order by c.created_at desc, c.id desc limit 1
        ) em on true
        left join lateral (
            select s.next_attempt_at, s.kind from call_slots s
            where s.load_number = l.load_number and s.state = 'due'
            order by s.next_attempt_at limit 1
        ) nx on true
        left join lateral (
            select s.attempts from call_slots s
            where s.load_number = l.load_number and s.attempts > 0
            order by s.updated_at desc, s.id desc limit 1
        ) att on true
        left join lateral (
            select w.last_error from webhook_outbox w
            where w.load_number = l.load_number and w.state = 'failed'
            order by w.id desc limit 1
        ) wf on true
        where (coalesce((p_filters ->> 'include_inactive')::boolean, false)
               or l.status in ('planned', 'in_transit'))
          and (coalesce(p_filters ->> 'query', '') = ''
               or strpos(lower(l.load_number), lower(p_filters ->> 'query')) > 0
               or strpos(lower(l.driver_name), lower(p_filters ->> 'query')) > 0)
    )
    select coalesce(jsonb_agg(jsonb_build_object(
        'load', dispatch_load_json(r.l),
        'last_call_id', (r.lc).provider_call_id, 'last_call_provider', (r.lc).provider,
        'last_call_at', (r.lc).created_at, 'last_call_status', (r.lc).status,
        'last_structured', (r.lc).structured, 'last_emergency_type', r.emergency_type,
        'next_due_at', (r.nx).next_attempt_at, 'next_kind', (r.nx).kind,
        'attempts', coalesce(r.attempts, 0), 'open_emergency', r.open_emergency,
        'webhook_failure', r.last_error)
        order by r.open_emergency desc, ((r.l).unreachable_at is not null) desc,
                 (r.nx).next_attempt_at nulls last, (r.l).load_number), '[]'::jsonb)
    from rows r
    where not coalesce((p_filters ->> 'only_problems')::boolean, false)
       or r.open_emergency or (r.l).unreachable_at is not null or r.last_error is not null
$$;

-- Queue one delivery per finished call about a known load (existing ones are left alone).
create or replace function enqueue_finished_calls(p_target text, p_since timestamptz,
                                                  p_now timestamptz)
returns integer language plpgsql as $$
declare
    added integer;
begin
    insert into webhook_outbox (target, provider, provider_call_id, load_number, next_attempt_at,
                                created_at)
    select p_target, c.provider, c.provider_call_id, c.load_number, p_now, p_now
    from loads l join calllog c on c.load_number = l.load_number
    where c.status in ('ended', 'error') and c.created_at >= p_since
    on conflict (target, provider, provider_call_id) do nothing;
    get diagnostics added = row_count;
    return added;
end
$$;

create or replace function claim_webhooks(p_target text, p_now timestamptz, p_limit integer,
                                          p_lease_secs double precision)
returns jsonb language sql as $$
    with due as (
        select id from webhook_outbox
        where target = p_target and state = 'pending' and next_attempt_at <= p_now
        order by next_attempt_at, id limit p_limit
        for update skip locked
    ), taken as (
        update webhook_outbox w set attempts = w.attempts + 1,
            next_attempt_at = p_now + make_interval(secs => p_lease_secs)
        from due where w.id = due.id
        returning w.*
    )
    select coalesce(jsonb_agg(jsonb_build_object(
        'id', id, 'target', target, 'provider', provider, 'provider_call_id', provider_call_id,
        'load_number', load_number, 'attempts', attempts, 'created_at', created_at)
        order by id), '[]'::jsonb)
    from taken
$$;

create or replace function settle_webhook(p_id bigint, p_state text, p_now timestamptz,
                                          p_retry_at timestamptz, p_status integer,
                                          p_error text)
returns void language sql as $$
    update webhook_outbox set state = p_state, last_status = p_status, last_error = p_error,
        next_attempt_at = coalesce(p_retry_at, next_attempt_at),
        delivered_at = case when p_state = 'delivered' then p_now end
    where id = p_id
$$;
