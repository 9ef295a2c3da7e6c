-- The scheduler in batches (after 0010_loads_scheduler.sql): plans of many loads and the
-- placements of a whole claim land in one transaction each (a commit per row was the bottleneck:
-- 10,000 loads took 90 s to plan), and a claim looks only at the slots it takes, deciding for
-- each whether it is placed or skipped (too late, arrival confirmed, load no longer active).

drop function if exists sync_load_slots(text, bigint, jsonb);
drop function if exists mark_attempt_placed(bigint, text, text, timestamptz);

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

do $$
declare
    fn regprocedure;
begin
    for fn in
        select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'public' and p.proname in ('sync_loads_slots', 'mark_attempts_placed')
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
