-- Daily rollups of calllog, so metrics over a month of a million calls read a few thousand
-- grouped rows instead of every call (the same design as SQLite's sqlite_0003_daily_rollup.sql).
-- One row per (provider, UTC day, status, outcome, driver status, emergency type, duration
-- bucket) with the counts and sums every metric needs; keyword counts per (provider, day,
-- status, outcome, driver status, emergency type, keyword). Key columns are never NULL (a
-- primary key cannot hold NULL): NULL is stored as '' (text) or -1 (bucket).
--
-- Statement-level triggers with transition tables keep both exact in the writing transaction,
-- one grouped upsert per statement (a COPY of a million calls is one statement, not a million
-- trigger calls). Rows are upserted in key order, so concurrent writers lock rollup rows in
-- the same order and cannot deadlock on them; a statement that changes nothing the metrics
-- read (a transcript save) touches no rollup row at all. Rows whose calls fell to zero stay
-- (they are few, bounded by the number of groups) and are skipped when read.

create table if not exists calllog_daily (
    provider          text not null,
    day               date not null,
    status            text not null,
    call_outcome      text not null,
    driver_status     text not null,
    emergency_type    text not null,
    duration_bucket   integer not null,
    calls             bigint not null,
    duration_n        bigint not null,
    duration_sum      double precision not null,
    sentiment_n       bigint not null,
    sentiment_sum     double precision not null,
    interruptions_n   bigint not null,
    interruptions_sum bigint not null,
    tokens_sum        bigint not null,
    latency_n         bigint not null,
    latency_sum       double precision not null,
    primary key (
        provider, day, status, call_outcome, driver_status, emergency_type, duration_bucket)
);

create table if not exists calllog_daily_keywords (
    provider       text not null,
    day            date not null,
    status         text not null,
    call_outcome   text not null,
    driver_status  text not null,
    emergency_type text not null,
    keyword        text not null,
    calls          bigint not null,
    hits           numeric not null,
    primary key (provider, day, status, call_outcome, driver_status, emergency_type, keyword)
);

-- The two statements that add the signed rows of `delta_sql` (columns: sign and those of
-- dispatch_rollup_columns) to the rollups.
create or replace function dispatch_rollup_add_sql(delta_sql text)
returns text[] language sql immutable as $fn$
select array[
    'insert into calllog_daily as t select provider, (created_at at time zone ''UTC'')::date,'
    '    status, coalesce(call_outcome, ''''), coalesce(driver_status, ''''),'
    '    coalesce(emergency_type, ''''), coalesce(floor(duration_secs / 60)::integer, -1),'
    '    sum(sign), sum(sign * (duration_secs is not null)::int),'
    '    coalesce(sum(sign * duration_secs), 0),'
    '    sum(sign * (sentiment is not null)::int), coalesce(sum(sign * sentiment), 0),'
    '    sum(sign * (interruptions_est is not null)::int),'
    '    coalesce(sum(sign * interruptions_est), 0), coalesce(sum(sign * tokens_estimated), 0),'
    '    sum(sign * (e2e_latency_ms is not null)::int), coalesce(sum(sign * e2e_latency_ms), 0)'
    '  from (' || delta_sql || ') as d'
    '  group by 1, 2, 3, 4, 5, 6, 7'
    '  having sum(sign) <> 0 or sum(sign * (duration_secs is not null)::int) <> 0'
    '      or coalesce(sum(sign * duration_secs), 0) <> 0'
    '      or sum(sign * (sentiment is not null)::int) <> 0'
    '      or coalesce(sum(sign * sentiment), 0) <> 0'
    '      or sum(sign * (interruptions_est is not null)::int) <> 0'
    '      or coalesce(sum(sign * interruptions_est), 0) <> 0'
    '      or coalesce(sum(sign * tokens_estimated), 0) <> 0'
    '      or sum(sign * (e2e_latency_ms is not null)::int) <> 0'
    '      or coalesce(sum(sign * e2e_latency_ms), 0) <> 0'
    '  order by 1, 2, 3, 4, 5, 6, 7'
    ' on conflict (provider, day, status, call_outcome, driver_status, emergency_type,'
    '              duration_bucket) do update set'
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
    '    (d.created_at at time zone ''UTC'')::date, d.status, coalesce(d.call_outcome, ''''),'
    '    coalesce(d.driver_status, ''''), coalesce(d.emergency_type, ''''), hit.key,'
    '    sum(d.sign), sum(d.sign * hit.value::numeric)'
    '  from (' || delta_sql || ') as d cross join lateral jsonb_each(d.keyword_hits) as hit'
    '  where jsonb_typeof(hit.value) = ''number'''
    '  group by 1, 2, 3, 4, 5, 6, 7'
    '  having sum(d.sign) <> 0 or sum(d.sign * hit.value::numeric) <> 0'
    '  order by 1, 2, 3, 4, 5, 6, 7'
    ' on conflict (provider, day, status, call_outcome, driver_status, emergency_type,'
    '              keyword) do update set'
    '    calls = t.calls + excluded.calls, hits = t.hits + excluded.hits']
$fn$;

-- The calllog columns the rollups read, qualified by `p_alias`.
create or replace function dispatch_rollup_columns(p_alias text)
returns text language sql immutable as $fn$
select string_agg(format('%I.%I', p_alias, name), ', ')
from unnest(array['provider', 'created_at', 'status', 'call_outcome', 'driver_status',
                  'emergency_type', 'duration_secs', 'sentiment', 'interruptions_est',
                  'tokens_estimated', 'e2e_latency_ms', 'keyword_hits']) as name
$fn$;

-- Transition tables are visible to the trigger function's own statements (dynamic ones
-- included) but not to functions it calls, so the statements run here.
create or replace function dispatch_rollup_trigger()
returns trigger language plpgsql volatile as $$
declare
    delta_sql text;
    statement text;
begin
    delta_sql := case tg_op
        when 'INSERT' then 'select 1 as sign, ' || dispatch_rollup_columns('n')
            || ' from new_rows as n'
        when 'DELETE' then 'select -1 as sign, ' || dispatch_rollup_columns('o')
            || ' from old_rows as o'
        else 'select -1 as sign, ' || dispatch_rollup_columns('o') || ' from old_rows as o'
            || ' union all select 1, ' || dispatch_rollup_columns('n') || ' from new_rows as n'
    end;
    foreach statement in array dispatch_rollup_add_sql(delta_sql) loop
        execute statement;
    end loop;
    return null;
end
$$;

drop trigger if exists calllog_rollup_insert on calllog;
create trigger calllog_rollup_insert after insert on calllog
    referencing new table as new_rows
    for each statement execute function dispatch_rollup_trigger();
drop trigger if exists calllog_rollup_update on calllog;
create trigger calllog_rollup_update after update on calllog
    referencing old table as old_rows new table as new_rows
    for each statement execute function dispatch_rollup_trigger();
drop trigger if exists calllog_rollup_delete on calllog;
create trigger calllog_rollup_delete after delete on calllog
    referencing old table as old_rows
    for each statement execute function dispatch_rollup_trigger();

-- The calls already stored.
truncate calllog_daily, calllog_daily_keywords;
do $$
declare
    statement text;
begin
    foreach statement in array dispatch_rollup_add_sql(
        'select 1 as sign, ' || dispatch_rollup_columns('c') || ' from calllog as c')
    loop
        execute statement;
    end loop;
end
$$;

-- Metrics read the rollups for whole UTC days when the filters are only provider, status,
-- outcome, driver status, emergency type and dates; the partial days at the edges of the range
-- (and any other filter) are scanned from calllog. The scan is the previous function.
alter function dispatch_call_aggregates(jsonb) rename to dispatch_call_scan_aggregates;

create or replace function dispatch_call_aggregates(p_filters jsonb)
returns jsonb language plpgsql stable
set work_mem = '64MB'
as $$
declare
    f jsonb := coalesce(p_filters, '{}'::jsonb);
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
    then
        return dispatch_call_scan_aggregates(f);
    end if;
    range_from := (f ->> 'created_from')::timestamptz;
    range_to := (f ->> 'created_to')::timestamptz;
    first_day := dispatch_ceil_day(range_from);
    end_day := (range_to at time zone 'UTC')::date;
    if first_day is not null and end_day is not null and first_day >= end_day then
        return dispatch_call_scan_aggregates(f);
    end if;

    categories := f - 'created_from' - 'created_to';
    if first_day is not null then
        day_sql := day_sql || format(' and c.day >= %L::date', first_day);
        if range_from < first_day::timestamp at time zone 'UTC' then
            edges := edges || (categories || jsonb_build_object(
                'created_from', range_from, 'created_to', first_day::timestamp at time zone 'UTC'));
        end if;
    end if;
    if end_day is not null then
        day_sql := day_sql || format(' and c.day < %L::date', end_day);
        if end_day::timestamp at time zone 'UTC' < range_to then
            edges := edges || (categories || jsonb_build_object(
                'created_from', end_day::timestamp at time zone 'UTC', 'created_to', range_to));
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
        groups_sql := groups_sql || ' union all select (c.created_at at time zone ''UTC'')::date,'
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

-- The first UTC midnight at or after `p_at` (null stays null).
create or replace function dispatch_ceil_day(p_at timestamptz)
returns date language sql immutable as $$
    select case
        when p_at is null then null
        when (p_at at time zone 'UTC')::time = '00:00' then (p_at at time zone 'UTC')::date
        else (p_at at time zone 'UTC')::date + 1
    end
$$;

-- Pipecat metrics as in 0002, with the total taken from the aggregates (the same filters over
-- the same calls) instead of a second count of every matching call.
create or replace function pipecat_metrics(
    p_filters jsonb default '{}', p_page integer default 1, p_page_size integer default 50
)
returns jsonb language plpgsql stable as $$
declare
    f jsonb := coalesce(p_filters, '{}'::jsonb) || '{"provider": "pipecat"}';
    where_sql text := dispatch_call_filter(f);
    aggregates jsonb;
    items jsonb;
begin
    perform dispatch_check_page(p_page, p_page_size);
    execute format(
        'select coalesce(jsonb_agg(page.item order by page.n), ''[]''::jsonb) from ('
        '  select jsonb_build_object(''id'', c.id, ''provider_call_id'', c.provider_call_id,'
        '      ''driver_id'', c.driver_id, ''load_number'', c.load_number,'
        '      ''created_at'', c.created_at, ''duration_secs'', c.duration_secs,'
        '      ''interruptions_est'', c.interruptions_est,'
        '      ''tokens_estimated'', c.tokens_estimated, ''keyword_hits'', c.keyword_hits)'
        '      as item, row_number() over (order by c.created_at desc, c.id desc) as n'
        '  from calllog c where %s'
        '  order by c.created_at desc, c.id desc limit %s offset %s) as page',
        where_sql, p_page_size, (p_page - 1)::bigint * p_page_size) into items;
    aggregates := dispatch_call_aggregates(f);
    return jsonb_build_object(
        'items', items, 'total', aggregates -> 'total_calls', 'page', p_page,
        'page_size', p_page_size, 'aggregates', aggregates);
end
$$;

-- Row-level security and rights as for the other tables (see 0003_rls.sql).
alter table calllog_daily enable row level security;
alter table calllog_daily_keywords enable row level security;
do $$
declare
    fn regprocedure;
begin
    if exists (select 1 from pg_roles where rolname = 'anon') then
        revoke all on calllog_daily, calllog_daily_keywords from anon;
    end if;
    if exists (select 1 from pg_roles where rolname = 'authenticated') then
        revoke all on calllog_daily, calllog_daily_keywords from authenticated;
    end if;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
        grant select, insert, update, delete on calllog_daily, calllog_daily_keywords
            to service_role;
    end if;
    for fn in
        select p.oid::regprocedure
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = current_schema()
          and p.proname in (
              'dispatch_rollup_add_sql', 'dispatch_rollup_columns', 'dispatch_rollup_trigger',
              'dispatch_call_scan_aggregates', 'dispatch_call_aggregates', 'dispatch_ceil_day')
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
