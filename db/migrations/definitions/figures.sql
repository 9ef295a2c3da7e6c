-- Figures: the daily rollups, the metrics that read them, and the other charts' queries.
--
-- The rollups (tables in 0004_daily_rollup.sql, keyed on simulated since 0014, on office days
-- since 0016) hold one row per (provider, day, status, outcome, driver status, emergency type,
-- duration bucket, simulated) with the counts and sums every metric needs, and keyword counts
-- per (provider, day, status, outcome, driver status, emergency type, keyword, simulated), so
-- metrics over a month of a million calls read a few thousand rows. The day is the call's
-- date in the zone named in calllog_rollup_zone, which the Store keeps equal to
-- DISPATCH_TIMEZONE (dispatch_key_rollups_to below). SQLite does the same in
-- sqlite_definitions.sql.
--
-- Statement-level triggers with transition tables keep both exact in the writing transaction,
-- one grouped upsert per statement (a COPY of a million calls is one statement, not a million
-- trigger calls). Rows are upserted in key order, so concurrent writers lock rollup rows in
-- the same order and cannot deadlock on them; a statement that changes nothing the metrics
-- read (a transcript save) touches no rollup row at all. Rows whose calls fell to zero stay
-- (they are few, bounded by the number of groups) and are skipped when read.

drop function if exists dispatch_ceil_day(timestamptz);

-- The statements that add `delta_sql`'s rows (a sign, +1 or -1, and calllog's columns the
-- rollups read) to both rollups. The rollups' zone is an uncorrelated subquery: read once per
-- statement.
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

-- The calllog columns the rollups read, qualified by `p_alias`.
create or replace function dispatch_rollup_columns(p_alias text)
returns text language sql immutable as $fn$
select string_agg(format('%I.%I', p_alias, name), ', ')
from unnest(array['provider', 'created_at', 'status', 'call_outcome', 'driver_status',
                  'emergency_type', 'duration_secs', 'sentiment', 'interruptions_est',
                  'tokens_estimated', 'e2e_latency_ms', 'keyword_hits', 'simulated']) as name
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

create or replace trigger calllog_rollup_insert after insert on calllog
    referencing new table as new_rows
    for each statement execute function dispatch_rollup_trigger();

create or replace trigger calllog_rollup_update after update on calllog
    referencing old table as old_rows new table as new_rows
    for each statement execute function dispatch_rollup_trigger();

create or replace trigger calllog_rollup_delete after delete on calllog
    referencing old table as old_rows
    for each statement execute function dispatch_rollup_trigger();

-- Both rollups again from every call.
create or replace function dispatch_rebuild_rollups()
returns void language plpgsql volatile as $$
declare
    statement text;
begin
    delete from calllog_daily;
    delete from calllog_daily_keywords;
    foreach statement in array dispatch_rollup_add_sql(
        'select 1 as sign, ' || dispatch_rollup_columns('c') || ' from calllog as c')
    loop
        execute statement;
    end loop;
end
$$;

-- Rebuild the rollups keyed on days in `p_zone` (an IANA name); false when they already are.
-- Writers of calllog wait meanwhile (their triggers would key their calls on the old zone);
-- readers keep reading the old rollups until the rebuild commits.
create or replace function dispatch_key_rollups_to(p_zone text)
returns boolean language plpgsql volatile as $$
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
    perform dispatch_rebuild_rollups();
    return true;
end
$$;

-- The matching calls grouped as the rollups group them (day in `p_zone`, status, outcome,
-- driver status, emergency type, duration bucket, then the counts and sums): what the rollups
-- would hold for these calls alone.
create or replace function dispatch_call_groups_sql(p_filters jsonb, p_zone text)
returns text language sql stable as $$
    select 'select (c.created_at at time zone ' || quote_literal(p_zone) || ')::date as day,'
        ' c.status, c.call_outcome, c.driver_status, c.emergency_type,'
        ' floor(c.duration_secs / 60)::integer as bucket, count(*) as calls,'
        ' count(c.duration_secs) as duration_n, coalesce(sum(c.duration_secs), 0) as duration_sum,'
        ' count(c.sentiment) as sentiment_n, coalesce(sum(c.sentiment), 0) as sentiment_sum,'
        ' count(c.interruptions_est) as interruptions_n,'
        ' coalesce(sum(c.interruptions_est), 0) as interruptions_sum,'
        ' coalesce(sum(c.tokens_estimated), 0) as tokens_sum,'
        ' count(c.e2e_latency_ms) as latency_n, coalesce(sum(c.e2e_latency_ms), 0) as latency_sum'
        ' from calllog c where ' || dispatch_call_filter(p_filters)
        || ' group by 1, 2, 3, 4, 5, 6'
$$;

-- The matching calls' keyword hits as the keyword rollup holds them (keyword, calls, hits).
create or replace function dispatch_call_keywords_sql(p_filters jsonb)
returns text language sql stable as $$
    select 'select hit.key as keyword, count(*) as calls, sum(hit.value::numeric) as hits'
        ' from calllog c'
        ' cross join lateral jsonb_each(c.keyword_hits) as hit'
        ' where ' || dispatch_call_filter(p_filters) || ' and jsonb_typeof(hit.value) = ''number'''
        ' group by 1'
$$;

-- db.models.CallMetrics (less what it computes itself from the counts) from rows grouped as
-- dispatch_call_groups_sql groups them and keyword rows as dispatch_call_keywords_sql's.
create or replace function dispatch_aggregates_json(p_groups_sql text, p_keywords_sql text)
returns jsonb language plpgsql stable
-- Enough memory to group a million calls without spilling sorts to disk.
set work_mem = '64MB'
as $$
declare
    groups jsonb;
    keywords jsonb;
begin
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
        '         sum(latency_sum) / nullif(sum(latency_n), 0) as avg_latency_ms'
        '  from (' || p_groups_sql || ') as c'
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
        '      ''avg_latency_ms'', avg_latency_ms)'
        '    from grouped where g = 63), ''{}'')'
        ' from grouped'
        into groups;

    execute 'select coalesce(jsonb_object_agg(keyword, hits), ''{}'') from ('
        '  select keyword, sum(hits)::bigint as hits from (' || p_keywords_sql || ') as k'
        '  group by keyword having sum(calls) > 0) as totals'
        into keywords;

    return groups || jsonb_build_object('keyword_totals', keywords);
end
$$;

-- Metrics by scanning the matching calls (days in the filters' zone).
create or replace function dispatch_call_scan_aggregates(p_filters jsonb)
returns jsonb language sql stable as $$
    select dispatch_aggregates_json(
        dispatch_call_groups_sql(p_filters, coalesce(p_filters ->> 'timezone', 'UTC')),
        dispatch_call_keywords_sql(p_filters))
$$;

-- Metrics from the rollups for the whole days of the range and from the calls for the partial
-- days at its edges, when the filters are only categories the rollups keep, dates and
-- `simulated`, and the rollups are keyed to the filters' zone; otherwise by a scan.
create or replace function dispatch_call_rollup_aggregates(p_filters jsonb)
returns jsonb language plpgsql stable
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
        groups_sql := groups_sql || ' union all ' || dispatch_call_groups_sql(edge, zone);
        keywords_sql := keywords_sql || ' union all ' || dispatch_call_keywords_sql(edge);
    end loop;
    return dispatch_aggregates_json(groups_sql, keywords_sql);
end
$$;

-- The daily rollups do not carry the on-time status: metrics filtered by it scan the calls.
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

-- Retell metrics: the filter's provider defaults to retell.
create or replace function retell_metrics(p_filters jsonb default '{}')
returns jsonb language plpgsql stable as $$
declare
    f jsonb := coalesce(p_filters, '{}'::jsonb);
begin
    if f ->> 'provider' is null then
        f := f || '{"provider": "retell"}';
    end if;
    return dispatch_call_aggregates(f);
end
$$;

-- Pipecat metrics: a page of its calls, and the total taken from the aggregates (the same
-- filters over the same calls).
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

-- Voice latency per office day (the filters' zone).
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

-- Rollups a migration created or emptied (0004, 0014) while calls exist are filled from the
-- calls here, in that migration's transaction: these definitions are applied again with every
-- migration. Any call written adds a rollup row, so empty rollups beside calls mean exactly that.
do $$
begin
    if not exists (select 1 from calllog_daily) and exists (select 1 from calllog) then
        perform dispatch_rebuild_rollups();
    end if;
end
$$;
