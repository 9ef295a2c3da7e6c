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
