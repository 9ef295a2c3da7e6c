-- Voice latency over time: per UTC day and engine, the mean over calls of each call's end of
-- speech -> first audio p50 and p90 (ms), from `latency` as both engines store it
-- (e2e_p50_ms, e2e_p90_ms). Reads the same filters as every other figure.
create or replace function latency_trend(p_filters jsonb default '{}')
returns jsonb language plpgsql stable as $$
declare
    result jsonb;
begin
    execute format(
        'select coalesce(jsonb_agg(jsonb_build_object('
        '    ''day'', day, ''provider'', provider, ''calls'', calls,'
        '    ''e2e_p50_ms'', p50, ''e2e_p90_ms'', p90) order by day, provider), ''[]''::jsonb)'
        ' from (select to_char(c.created_at at time zone ''UTC'', ''YYYY-MM-DD'') as day,'
        '              c.provider, count(*) as calls, avg(c.e2e_latency_ms) as p50,'
        '              avg(case when jsonb_typeof(c.latency -> ''e2e_p90_ms'') = ''number'''
        '                       then (c.latency ->> ''e2e_p90_ms'')::double precision end) as p90'
        '       from calllog c where %s and c.e2e_latency_ms is not null'
        '       group by 1, 2) t',
        dispatch_call_filter(p_filters))
    into result;
    return result;
end
$$;

-- Like every function: only the service role may call it (see 0003_rls.sql).
do $$
begin
    execute 'revoke all on function latency_trend(jsonb) from public';
    if exists (select 1 from pg_roles where rolname = 'anon') then
        execute 'revoke all on function latency_trend(jsonb) from anon';
    end if;
    if exists (select 1 from pg_roles where rolname = 'authenticated') then
        execute 'revoke all on function latency_trend(jsonb) from authenticated';
    end if;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
        execute 'grant execute on function latency_trend(jsonb) to service_role';
    end if;
end
$$;
