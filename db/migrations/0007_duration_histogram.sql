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
