-- Per-day figures are days in the office's time zone (DISPATCH_TIMEZONE, an IANA name), not
-- UTC days. The daily rollups are keyed on a call's date in the zone named in
-- calllog_rollup_zone; the Store keeps that zone equal to DISPATCH_TIMEZONE: when they differ,
-- its `migrate` (run at every start and by `python -m db migrate`) calls
-- dispatch_key_rollups_to, which rebuilds the rollups from the calls in one transaction. A
-- figure asked for days in another zone than the rollups' scans the calls instead, so days are
-- never silently another zone's. Figure filters carry the zone as `timezone`. The zone starts
-- as UTC, the days the rollups already hold, so the stored rows stay as they are. SQLite does
-- the same in sqlite_0015_office_days.sql.

create table if not exists calllog_rollup_zone (
    singleton boolean primary key default true check (singleton),
    zone      text not null
);
insert into calllog_rollup_zone (zone) values ('UTC') on conflict do nothing;

-- The rollup statements of 0014_simulated_calls.sql with the day in the rollups' zone (an
-- uncorrelated subquery: read once per statement).
create or replace function dispatch_rollup_add_sql(delta_sql text)
returns text[] language sql immutable as $fn$
select array[
    'insert into calllog_daily as t select provider,'
    '    (created_at at time zone (select zone from calllog_rollup_zone))::date,'
    '    status, coalesce(call_outcome, ''''), coalesce(driver_status, ''''),'
    '    coalesce(emergency_type, ''''), coalesce(floor(duration_secs / 60)::integer, -1),'
    '    sum(sign), sum(sign * (duration_secs is not null)::int),'
    '    coalesce(sum(sign * duration_secs), 0),'
    '    sum(sign * (sentiment is not null)::int), coalesce(sum(sign * sentiment), 0),'
    '    sum(sign * (interruptions_est is not null)::int),'
    '    coalesce(sum(sign * interruptions_est), 0), coalesce(sum(sign * tokens_estimated), 0),'
    '    sum(sign * (e2e_latency_ms is not null)::int), coalesce(sum(sign * e2e_latency_ms), 0),'
    '    simulated'
    '  from (' || delta_sql || ') as d'
    '  group by 1, 2, 3, 4, 5, 6, 7, 18'
    '  having sum(sign) <> 0 or sum(sign * (duration_secs is not null)::int) <> 0'
    '      or coalesce(sum(sign * duration_secs), 0) <> 0'
    '      or sum(sign * (sentiment is not null)::int) <> 0'
    '      or coalesce(sum(sign * sentiment), 0) <> 0'
    '      or sum(sign * (interruptions_est is not null)::int) <> 0'
    '      or coalesce(sum(sign * interruptions_est), 0) <> 0'
    '      or coalesce(sum(sign * tokens_estimated), 0) <> 0'
    '      or sum(sign * (e2e_latency_ms is not null)::int) <> 0'
    '      or coalesce(sum(sign * e2e_latency_ms), 0) <> 0'
    '  order by 1, 2, 3, 4, 5, 6, 7, 18'
    ' on conflict (provider, day, status, call_outcome, driver_status, emergency_type,'
    '              duration_bucket, simulated) do update set'
    '    calls = t.calls + excluded.calls,'
    '    duration_n = t.duration_n + excluded.duration_n,'
    '    duration_sum = t.duration_sum + excluded.duration_sum,'
    '    sentiment_n = t.sentiment_n + excluded.sentiment_n,'
    '    sentiment_sum = t.sentiment_sum + excluded.sentiment_sum,'
    '    interruptions_n = t.interruptions_n + excluded.interruptions_n,'
    '    interruptions_sum = t.interruptions_sum + excluded.interruptions_sum,'
    '    tokens_sum = t.tokens_sum + excluded.tokens_sum,'
    '    latency_n = t.latency_n + excluded.latency_n,'
    '    latency_sum = t.latency_sum + excluded.latency_sum',
    'insert into calllog_daily_keywords as t select d.provider,'
    '    (d.created_at at time zone (select zone from calllog_rollup_zone))::date, d.status,'
    '    coalesce(d.call_outcome, ''''),'
    '    coalesce(d.driver_status, ''''), coalesce(d.emergency_type, ''''), hit.key,'
    '    sum(d.sign), sum(d.sign * hit.value::numeric), d.simulated'
    '  from (' || delta_sql || ') as d cross join lateral jsonb_each(d.keyword_hits) as hit'
    '  where jsonb_typeof(hit.value) = ''number'''
    '  group by 1, 2, 3, 4, 5, 6, 7, 10'
    '  having sum(d.sign) <> 0 or sum(d.sign * hit.value::numeric) <> 0'
    '  order by 1, 2, 3, 4, 5, 6, 7, 10'
    ' on conflict (provider, day, status, call_outcome, driver_status, emergency_type,'
    '              keyword, simulated) do update set'
    '    calls = t.calls + excluded.calls, hits = t.hits + excluded.hits']
$fn$;


-- Rebuild the rollups keyed on days in `p_zone` (an IANA name); false when they already are.
-- Writers of calllog wait meanwhile (their triggers would key their calls on the old zone);
-- readers keep reading the old rollups until the rebuild commits.
create or replace function dispatch_key_rollups_to(p_zone text)
returns boolean language plpgsql volatile as $$
declare
    statement text;
begin
    if p_zone is null or not exists (select 1 from pg_timezone_names where name = p_zone) then
        raise exception using errcode = '22023',
            message = format('%L is not an IANA time-zone name (e.g. America/Chicago, UTC)',
                             p_zone);
    end if;
    if (select zone from calllog_rollup_zone) = p_zone then
        return false;
    end if;
    lock table calllog in share mode;
    lock table calllog_rollup_zone in exclusive mode;
    if (select zone from calllog_rollup_zone) = p_zone then
        return false;  -- another process re-keyed them while we waited
    end if;
    update calllog_rollup_zone set zone = p_zone;
    delete from calllog_daily;
    delete from calllog_daily_keywords;
    foreach statement in array dispatch_rollup_add_sql(
        'select 1 as sign, ' || dispatch_rollup_columns('c') || ' from calllog as c')
    loop
        execute statement;
    end loop;
    return true;
end
$$;

-- Filters accept `timezone`: the zone of a figure's days (it filters nothing). Otherwise the
-- same function as in 0014_simulated_calls.sql.
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
        'failed_start', 'on_time_status', 'simulated', 'timezone']);
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
    if f ->> 'simulated' is not null then
        clauses := clauses || format('c.simulated = %L', (f ->> 'simulated')::boolean);
    end if;
    return array_to_string(clauses, ' and ');
end
$$;

-- The scan of 0002_functions.sql with days in the filters' zone.
create or replace function dispatch_call_scan_aggregates(p_filters jsonb)
returns jsonb language plpgsql stable
-- Enough memory to group a million calls without spilling sorts to disk.
set work_mem = '64MB'
as $$
declare
    where_sql text := dispatch_call_filter(p_filters);
    zone text := coalesce(p_filters ->> 'timezone', 'UTC');
    groups jsonb;
    keywords jsonb;
begin
    execute 'with grouped as ('
        '  select grouping(call_outcome, status, driver_status, emergency_type, day, bucket)'
        '             as g,'
        '         call_outcome, status, driver_status, emergency_type, day, bucket,'
        '         count(*) as calls,'
        '         count(*) filter (where status = ''ended'') as ended_calls,'
        '         avg(duration_secs) as avg_duration_secs,'
        '         avg(sentiment) as avg_sentiment,'
        '         avg(interruptions_est)::double precision as avg_interruptions,'
        '         coalesce(sum(tokens_estimated), 0) as total_tokens,'
        '         count(*) filter (where call_outcome = ''Emergency Escalation'') as emergencies,'
        '         count(*) filter (where driver_status = ''Delayed'') as delays,'
        '         count(*) filter (where call_outcome = ''Incomplete'') as incomplete,'
        '         avg(e2e_latency_ms) as avg_latency_ms'
        '  from (select c.call_outcome, c.status, c.driver_status, c.emergency_type,'
        '           c.duration_secs, c.sentiment, c.interruptions_est, c.tokens_estimated,'
        '           c.e2e_latency_ms,'
        '           (c.created_at at time zone ' || quote_literal(zone) || ')::date as day,'
        '           floor(c.duration_secs / 60)::integer as bucket'
        '        from calllog c where ' || where_sql || ') as c'
        '  group by grouping sets ((), (call_outcome), (status), (driver_status),'
        '                          (emergency_type), (day, call_outcome), (bucket))'
        ') select jsonb_build_object('
        '  ''by_outcome'', coalesce(jsonb_object_agg(call_outcome, calls)'
        '      filter (where g = 31 and call_outcome is not null), ''{}''),'
        '  ''by_status'', coalesce(jsonb_object_agg(status, calls) filter (where g = 47), ''{}''),'
        '  ''by_driver_status'', coalesce(jsonb_object_agg(driver_status, calls)'
        '      filter (where g = 55 and driver_status is not null), ''{}''),'
        '  ''by_emergency_type'', coalesce(jsonb_object_agg(emergency_type, calls)'
        '      filter (where g = 59 and emergency_type is not null), ''{}''),'
        '  ''per_day'', coalesce(jsonb_agg(jsonb_build_object('
        '      ''day'', to_char(day, ''YYYY-MM-DD''), ''call_outcome'', call_outcome,'
        '      ''calls'', calls) order by day, call_outcome nulls first) filter (where g = 29),'
        '      ''[]''),'
        '  ''duration_histogram'', coalesce(jsonb_agg(jsonb_build_object('
        '      ''bucket_start_secs'', bucket * 60, ''bucket_end_secs'', (bucket + 1) * 60,'
        '      ''calls'', calls) order by bucket) filter (where g = 62 and bucket is not null),'
        '      ''[]'')) || coalesce(('
        '    select jsonb_build_object(''total_calls'', calls, ''ended_calls'', ended_calls,'
        '      ''avg_duration_secs'', avg_duration_secs, ''avg_sentiment'', avg_sentiment,'
        '      ''avg_interruptions'', avg_interruptions, ''total_tokens'', total_tokens,'
        '      ''emergencies'', emergencies, ''delays'', delays, ''incomplete'', incomplete,'
        '      ''avg_latency_ms'', avg_latency_ms)'
        '    from grouped where g = 63), ''{}'')'
        ' from grouped'
        into groups;

    execute 'select coalesce(jsonb_object_agg(keyword, hits), ''{}'') from ('
        '  select hit.key as keyword, sum(hit.value::numeric)::bigint as hits'
        '  from calllog c cross join lateral jsonb_each(c.keyword_hits) as hit'
        '  where ' || where_sql || ' and jsonb_typeof(hit.value) = ''number'''
        '  group by hit.key) as totals'
        into keywords;

    return groups || jsonb_build_object('keyword_totals', keywords);
end
$$;

-- The rollup reader of 0004_daily_rollup.sql (renamed by 0009_on_time_status.sql) with whole
-- days in the filters' zone, read from the rollups only when they are keyed to that zone.
create or replace function dispatch_call_rollup_aggregates(p_filters jsonb)
returns jsonb language plpgsql stable
set work_mem = '64MB'
as $$
declare
    f jsonb := coalesce(p_filters, '{}'::jsonb);
    zone text := coalesce(f ->> 'timezone', 'UTC');
    categories jsonb;
    range_from timestamptz;
    range_to timestamptz;
    first_day date;
    end_day date;
    day_sql text := '';
    groups_sql text;
    keywords_sql text;
    edge jsonb;
    edges jsonb[] := '{}';
    groups jsonb;
    keywords jsonb;
begin
    perform dispatch_call_filter(f);  -- rejects unknown filters
    if nullif(btrim(f ->> 'query'), '') is not null or f ->> 'driver_id' is not null
       or nullif(btrim(f ->> 'driver_name'), '') is not null or f ->> 'load_number' is not null
       -- the rollups keep a NULL category as '': an empty value to match needs the calls
       or '' in (f ->> 'call_outcome', f ->> 'driver_status', f ->> 'emergency_type')
       -- rollups keyed to another zone's days (re-keyed by dispatch_key_rollups_to)
       or zone is distinct from (select z.zone from calllog_rollup_zone z)
    then
        return dispatch_call_scan_aggregates(f);
    end if;
    range_from := (f ->> 'created_from')::timestamptz;
    range_to := (f ->> 'created_to')::timestamptz;
    first_day := (range_from at time zone zone)::date;
    if (first_day::timestamp at time zone zone) < range_from then
        first_day := first_day + 1;  -- the rollups start at the first whole day
    end if;
    end_day := (range_to at time zone zone)::date;
    if first_day is not null and end_day is not null and first_day >= end_day then
        return dispatch_call_scan_aggregates(f);
    end if;

    categories := f - 'created_from' - 'created_to' - 'timezone';
    if first_day is not null then
        day_sql := day_sql || format(' and c.day >= %L::date', first_day);
        if range_from < (first_day::timestamp at time zone zone) then
            edges := edges || (categories || jsonb_build_object(
                'created_from', range_from, 'created_to', first_day::timestamp at time zone zone));
        end if;
    end if;
    if end_day is not null then
        day_sql := day_sql || format(' and c.day < %L::date', end_day);
        if (end_day::timestamp at time zone zone) < range_to then
            edges := edges || (categories || jsonb_build_object(
                'created_from', end_day::timestamp at time zone zone, 'created_to', range_to));
        end if;
    end if;

    groups_sql := 'select c.day, c.status, nullif(c.call_outcome, '''') as call_outcome,'
        ' nullif(c.driver_status, '''') as driver_status,'
        ' nullif(c.emergency_type, '''') as emergency_type,'
        ' nullif(c.duration_bucket, -1) as bucket, c.calls, c.duration_n, c.duration_sum,'
        ' c.sentiment_n, c.sentiment_sum, c.interruptions_n, c.interruptions_sum, c.tokens_sum,'
        ' c.latency_n, c.latency_sum'
        ' from calllog_daily c where c.calls <> 0 and ' || dispatch_call_filter(categories)
        || day_sql;
    keywords_sql := 'select c.keyword, c.calls, c.hits from calllog_daily_keywords c'
        ' where ' || dispatch_call_filter(categories) || day_sql;
    foreach edge in array edges loop
        groups_sql := groups_sql || ' union all select (c.created_at at time zone '
            || quote_literal(zone) || ')::date,'
            ' c.status, c.call_outcome, c.driver_status, c.emergency_type,'
            ' floor(c.duration_secs / 60)::integer, count(*), count(c.duration_secs),'
            ' coalesce(sum(c.duration_secs), 0), count(c.sentiment), coalesce(sum(c.sentiment), 0),'
            ' count(c.interruptions_est), coalesce(sum(c.interruptions_est), 0),'
            ' coalesce(sum(c.tokens_estimated), 0), count(c.e2e_latency_ms),'
            ' coalesce(sum(c.e2e_latency_ms), 0)'
            ' from calllog c where ' || dispatch_call_filter(edge)
            || ' group by 1, 2, 3, 4, 5, 6';
        keywords_sql := keywords_sql || ' union all select hit.key, count(*),'
            ' sum(hit.value::numeric) from calllog c'
            ' cross join lateral jsonb_each(c.keyword_hits) as hit'
            ' where ' || dispatch_call_filter(edge) || ' and jsonb_typeof(hit.value) = ''number'''
            ' group by 1';
    end loop;

    execute 'with grouped as ('
        '  select grouping(call_outcome, status, driver_status, emergency_type, day, bucket)'
        '             as g,'
        '         call_outcome, status, driver_status, emergency_type, day, bucket,'
        '         coalesce(sum(calls), 0)::bigint as calls,'
        '         coalesce(sum(calls) filter (where status = ''ended''), 0)::bigint'
        '             as ended_calls,'
        '         sum(duration_sum) / nullif(sum(duration_n), 0) as avg_duration_secs,'
        '         sum(sentiment_sum) / nullif(sum(sentiment_n), 0) as avg_sentiment,'
        '         (sum(interruptions_sum)::numeric / nullif(sum(interruptions_n), 0))'
        '             ::double precision as avg_interruptions,'
        '         coalesce(sum(tokens_sum), 0)::bigint as total_tokens,'
        '         coalesce(sum(calls) filter (where call_outcome = ''Emergency Escalation''), 0)'
        '             ::bigint as emergencies,'
        '         coalesce(sum(calls) filter (where driver_status = ''Delayed''), 0)::bigint'
        '             as delays,'
        '         coalesce(sum(calls) filter (where call_outcome = ''Incomplete''), 0)::bigint'
        '             as incomplete,'
        '         sum(latency_sum) / nullif(sum(latency_n), 0) as avg_latency_ms'
        '  from (' || groups_sql || ') as c'
        '  group by grouping sets ((), (call_outcome), (status), (driver_status),'
        '                          (emergency_type), (day, call_outcome), (bucket))'
        ') select jsonb_build_object('
        '  ''by_outcome'', coalesce(jsonb_object_agg(call_outcome, calls)'
        '      filter (where g = 31 and call_outcome is not null), ''{}''),'
        '  ''by_status'', coalesce(jsonb_object_agg(status, calls) filter (where g = 47), ''{}''),'
        '  ''by_driver_status'', coalesce(jsonb_object_agg(driver_status, calls)'
        '      filter (where g = 55 and driver_status is not null), ''{}''),'
        '  ''by_emergency_type'', coalesce(jsonb_object_agg(emergency_type, calls)'
        '      filter (where g = 59 and emergency_type is not null), ''{}''),'
        '  ''per_day'', coalesce(jsonb_agg(jsonb_build_object('
        '      ''day'', to_char(day, ''YYYY-MM-DD''), ''call_outcome'', call_outcome,'
        '      ''calls'', calls) order by day, call_outcome nulls first) filter (where g = 29),'
        '      ''[]''),'
        '  ''duration_histogram'', coalesce(jsonb_agg(jsonb_build_object('
        '      ''bucket_start_secs'', bucket * 60, ''bucket_end_secs'', (bucket + 1) * 60,'
        '      ''calls'', calls) order by bucket) filter (where g = 62 and bucket is not null),'
        '      ''[]'')) || coalesce(('
        '    select jsonb_build_object(''total_calls'', calls, ''ended_calls'', ended_calls,'
        '      ''avg_duration_secs'', avg_duration_secs, ''avg_sentiment'', avg_sentiment,'
        '      ''avg_interruptions'', avg_interruptions, ''total_tokens'', total_tokens,'
        '      ''emergencies'', emergencies, ''delays'', delays, ''incomplete'', incomplete,'
        '      ''avg_latency_ms'', avg_latency_ms)'
        '    from grouped where g = 63), ''{}'')'
        ' from grouped'
        into groups;

    execute 'select coalesce(jsonb_object_agg(keyword, hits), ''{}'') from ('
        '  select keyword, sum(hits)::bigint as hits from (' || keywords_sql || ') as k'
        '  group by keyword having sum(calls) > 0) as totals'
        into keywords;

    return groups || jsonb_build_object('keyword_totals', keywords);
end
$$;

-- Voice latency per office day (0008_latency_trend.sql with the filters' zone).
create or replace function latency_trend(p_filters jsonb default '{}')
returns jsonb language plpgsql stable as $$
declare
    result jsonb;
begin
    execute format(
        'select coalesce(jsonb_agg(jsonb_build_object('
        '    ''day'', day, ''provider'', provider, ''calls'', calls,'
        '    ''e2e_p50_ms'', p50, ''e2e_p90_ms'', p90) order by day, provider), ''[]''::jsonb)'
        ' from (select to_char(c.created_at at time zone %L, ''YYYY-MM-DD'') as day,'
        '              c.provider, count(*) as calls, avg(c.e2e_latency_ms) as p50,'
        '              avg(case when jsonb_typeof(c.latency -> ''e2e_p90_ms'') = ''number'''
        '                       then (c.latency ->> ''e2e_p90_ms'')::double precision end) as p90'
        '       from calllog c where %s and c.e2e_latency_ms is not null'
        '       group by 1, 2) t',
        coalesce(p_filters ->> 'timezone', 'UTC'), dispatch_call_filter(p_filters))
    into result;
    return result;
end
$$;

-- Row-level security and rights as for the other tables (see 0003_rls.sql).
alter table calllog_rollup_zone enable row level security;
do $$
declare
    fn regprocedure;
begin
    if exists (select 1 from pg_roles where rolname = 'anon') then
        revoke all on calllog_rollup_zone from anon;
    end if;
    if exists (select 1 from pg_roles where rolname = 'authenticated') then
        revoke all on calllog_rollup_zone from authenticated;
    end if;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
        grant select, update on calllog_rollup_zone to service_role;
    end if;
    for fn in
        select p.oid::regprocedure
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = current_schema()
          and p.proname in (
              'dispatch_rollup_add_sql', 'dispatch_key_rollups_to', 'dispatch_call_filter',
              'dispatch_call_scan_aggregates', 'dispatch_call_rollup_aggregates', 'latency_trend')
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
