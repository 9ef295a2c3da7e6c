-- Simulated calls (the Trigger page's, where a manager types as the driver) are stored as
-- Retell calls with call_type 'simulated'. Figures leave them out unless asked to include them,
-- so the daily rollups carry whether their calls are simulated as one more key column, and
-- calllog carries the same flag as a generated column: the filter's clause
-- `c.simulated = false` then reads the same on calllog and on the rollups, and metrics keep
-- reading the rollups for whole days. SQLite does the same in sqlite_0013_simulated_calls.sql.

alter table calllog add column if not exists simulated boolean
    generated always as (coalesce(call_type = 'simulated', false)) stored;

-- The metrics' scans of partial days keep reading the covering index alone (0001_schema.sql),
-- now that their filter reads `simulated` too.
drop index if exists calllog_provider_created_at;
create index calllog_provider_created_at
    on calllog (provider, created_at desc, id desc)
    include (status, driver_id, load_number, duration_secs, sentiment, interruptions_est,
             tokens_estimated, call_outcome, driver_status, emergency_type, e2e_latency_ms,
             keyword_hits, simulated);

-- The new key column comes last in both rollups (the statements below insert by position).
alter table calllog_daily add column if not exists simulated boolean not null default false;
alter table calllog_daily drop constraint if exists calllog_daily_pkey;
alter table calllog_daily add primary key (
    provider, day, status, call_outcome, driver_status, emergency_type, duration_bucket,
    simulated);
alter table calllog_daily_keywords add column if not exists simulated boolean not null
    default false;
alter table calllog_daily_keywords drop constraint if exists calllog_daily_keywords_pkey;
alter table calllog_daily_keywords add primary key (
    provider, day, status, call_outcome, driver_status, emergency_type, keyword, simulated);

-- The rollup statements of 0004_daily_rollup.sql with `simulated` in their keys.
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
    '    (d.created_at at time zone ''UTC'')::date, d.status, coalesce(d.call_outcome, ''''),'
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

-- The calllog columns the rollups read, qualified by `p_alias`.
create or replace function dispatch_rollup_columns(p_alias text)
returns text language sql immutable as $fn$
select string_agg(format('%I.%I', p_alias, name), ', ')
from unnest(array['provider', 'created_at', 'status', 'call_outcome', 'driver_status',
                  'emergency_type', 'duration_secs', 'sentiment', 'interruptions_est',
                  'tokens_estimated', 'e2e_latency_ms', 'keyword_hits', 'simulated']) as name
$fn$;

-- The calls already stored, grouped again with the new key.
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

-- Filters gain `simulated`: true keeps only simulated calls, false all the others. Figures
-- send false unless the manager includes simulated calls; lists never send it. calllog and
-- both rollups carry the column, so the rollups still answer. Otherwise the same function as
-- in 0009_on_time_status.sql.
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
        'failed_start', 'on_time_status', 'simulated']);
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
