-- The agent's on-time judgement (structured.on_time_status: 'On Time', 'At Risk', 'Late', see
-- agent/vocabulary.py OnTimeStatus) as a column that follows `structured` by itself, so no
-- writer has to copy it, and an index for the dashboard's counts and the filter.
alter table calllog add column if not exists on_time_status text
    generated always as (structured ->> 'on_time_status') stored;
create index if not exists calllog_on_time_status on calllog (on_time_status, created_at desc);

-- Filters gain `on_time_status`; otherwise the same function as in 0007_figures.sql.
create or replace function dispatch_call_filter(p_filters jsonb)
returns text language plpgsql stable as $$
declare
    f jsonb := coalesce(p_filters, '{}'::jsonb);
    clauses text[] := array['true'];
    unknown text;
    search_text text;
    column_name text;
begin
    if jsonb_typeof(f) <> 'object' then
        raise exception using errcode = '22023', message = 'filters must be a JSON object';
    end if;
    select string_agg(k, ', ' order by k) into unknown
    from jsonb_object_keys(f) as k
    where k <> all (array[
        'query', 'provider', 'status', 'call_outcome', 'driver_status', 'emergency_type',
        'driver_id', 'driver_name', 'load_number', 'created_from', 'created_to',
        'failed_start', 'on_time_status']);
    if unknown is not null then
        raise exception using errcode = '22023', message = format('unknown filter(s): %s', unknown);
    end if;

    -- Every word must occur (stemmed, stop words dropped); words only match nothing.
    search_text := nullif(btrim(f ->> 'query'), '');
    if search_text is not null then
        if numnode(plainto_tsquery('english'::regconfig, search_text)) = 0 then
            clauses := clauses || 'false'::text;
        else
            clauses := clauses || format(
                'c.search_tsv @@ plainto_tsquery(''english''::regconfig, %L)', search_text);
        end if;
    end if;
    foreach column_name in array array[
        'provider', 'status', 'call_outcome', 'driver_status', 'emergency_type', 'load_number',
        'on_time_status']
    loop
        if f ->> column_name is not null then
            clauses := clauses || format('c.%I = %L', column_name, f ->> column_name);
        end if;
    end loop;
    if f ->> 'driver_id' is not null then
        clauses := clauses || format('c.driver_id = %s', (f ->> 'driver_id')::bigint);
    end if;
    if nullif(btrim(f ->> 'driver_name'), '') is not null then
        clauses := clauses || format(
            'c.driver_id in (select id from drivers where name ilike %L)',
            '%' || replace(replace(replace(btrim(f ->> 'driver_name'), '\', '\\'), '%', '\%'),
                           '_', '\_') || '%');
    end if;
    if f ->> 'created_from' is not null then
        clauses := clauses || format(
            'c.created_at >= %L::timestamptz', (f ->> 'created_from')::timestamptz);
    end if;
    if f ->> 'created_to' is not null then
        clauses := clauses || format(
            'c.created_at < %L::timestamptz', (f ->> 'created_to')::timestamptz);
    end if;
    if f ->> 'failed_start' is not null then
        clauses := clauses || format(
            'c.status %s ''error''',
            case when (f ->> 'failed_start')::boolean then '=' else '<>' end);
    end if;
    return array_to_string(clauses, ' and ');
end
$$;

-- The daily rollups do not carry the on-time status: metrics filtered by it scan the calls.
-- (Renamed once: applying this file again keeps the wrapper below.)
do $$
begin
    if to_regprocedure('dispatch_call_rollup_aggregates(jsonb)') is null then
        alter function dispatch_call_aggregates(jsonb) rename to dispatch_call_rollup_aggregates;
    end if;
end
$$;

create or replace function dispatch_call_aggregates(p_filters jsonb)
returns jsonb language plpgsql stable as $$
begin
    if coalesce(p_filters, '{}'::jsonb) ? 'on_time_status' then
        perform dispatch_call_filter(p_filters);  -- rejects unknown filters
        return dispatch_call_scan_aggregates(p_filters);
    end if;
    return dispatch_call_rollup_aggregates(p_filters);
end
$$;

-- Calls per on-time status among the calls that match the filters (calls without one are not
-- counted): the dashboard's late / at-risk figures.
create or replace function on_time_counts(p_filters jsonb default '{}')
returns jsonb language plpgsql stable as $$
declare
    counts jsonb;
begin
    execute 'select coalesce(jsonb_object_agg(on_time_status, calls), ''{}''::jsonb) from ('
        || ' select c.on_time_status, count(*) as calls from calllog c where '
        || dispatch_call_filter(p_filters)
        || ' and c.on_time_status is not null group by c.on_time_status) as per_status'
        into counts;
    return counts;
end
$$;

-- As in 0003_rls.sql: the functions run with the caller's rights; only the service role may
-- call them (a function created or renamed here keeps no earlier grant).
do $$
declare
    fn regprocedure;
begin
    for fn in
        select p.oid::regprocedure
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = current_schema()
          and p.proname in (
              'dispatch_call_filter', 'dispatch_call_aggregates',
              'dispatch_call_rollup_aggregates', 'on_time_counts')
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
