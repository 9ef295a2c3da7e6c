-- Figures a manager can trust (issue 12): the failed_start filter and duration histograms
-- binned by the data. Every statement is idempotent (create or replace, grants).

-- Filters gain `failed_start`: true keeps only calls whose start failed (status 'error', never
-- connected), false keeps all the others. Figures ask for false, so a call that never reached
-- the driver is counted as a failed start, not as a call without an outcome. The clause reads
-- only `status`, which calllog and the calllog_daily rollup both carry, so the rollup still
-- answers. Otherwise the same function as in 0002_functions.sql.
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
        'failed_start']);
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
        'provider', 'status', 'call_outcome', 'driver_status', 'emergency_type', 'load_number']
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

-- Call durations per bin of a width chosen from the data (db/histogram.py holds the same rule
-- for SQLite): the smallest of p_widths whose aligned bins cover [min, max] in at most
-- p_max_bins bins. Returns {"width": w, "counts": [{"bucket": n, "calls": k}]}, bucket n being
-- [n * w, (n + 1) * w); {"width": null} when no matching call has a duration.
create or replace function duration_histogram(
    p_filters jsonb default '{}', p_widths jsonb default '[60]', p_max_bins integer default 24
)
returns jsonb language plpgsql stable as $$
declare
    where_sql text := dispatch_call_filter(coalesce(p_filters, '{}'::jsonb))
        || ' and c.duration_secs is not null';
    low double precision;
    high double precision;
    chosen double precision;
    w double precision;
    counts jsonb;
begin
    execute 'select min(c.duration_secs), max(c.duration_secs) from calllog c where ' || where_sql
        into low, high;
    if low is null then
        return jsonb_build_object('width', null, 'counts', '[]'::jsonb);
    end if;
    -- p_widths is a JSON array of seconds, smallest first (JSON, as PostgREST passes it).
    for w in select value::double precision from jsonb_array_elements_text(p_widths) loop
        chosen := w;  -- the widest when none fits
        exit when floor(high / w) - floor(low / w) + 1 <= p_max_bins;
    end loop;
    execute format(
        'select coalesce(jsonb_agg(jsonb_build_object(''bucket'', b, ''calls'', n) order by b),'
        ' ''[]''::jsonb) from (select floor(c.duration_secs / %s)::bigint as b, count(*) as n'
        ' from calllog c where %s group by 1) as binned', chosen, where_sql)
        into counts;
    return jsonb_build_object('width', chosen, 'counts', counts);
end
$$;

-- Rights as for the other read functions: the service role only (see 0003_rls.sql).
do $$
declare
    fn regprocedure := 'duration_histogram(jsonb, jsonb, integer)'::regprocedure;
begin
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
end
$$;
