-- The single source of truth for writes with merge rules, search and aggregates.
-- PostgresStore calls these with psycopg; SupabaseStore calls them with `.rpc()`, so nothing is
-- ever aggregated in Python and PostgREST's 1,000-row response cap never truncates a result.
-- Filters are one JSON object shaped like db.models.CallFilters; results are JSON shaped like
-- db.models (Call, CallPage, CallMetrics, PipecatMetrics).
--
-- These files (db/migrations/definitions/) hold every function and trigger in its current
-- form, edited in place; the migration runner applies them again after any migration and
-- whenever they change. Numbered migrations hold tables, columns, indexes and data changes.

-- Status only moves forward: registered < ongoing < ended = error.
create or replace function dispatch_status_rank(p_status text)
returns int language sql immutable as $$
    select case p_status when 'registered' then 0 when 'ongoing' then 1 else 2 end
$$;

-- A call as db.models.Call (every column but generated ones, plus the driver's name). Plain
-- json, not jsonb: building it is several times cheaper, which is what an export of a million
-- calls spends its time on.
create or replace function dispatch_call_json(c calllog, p_driver_name text)
returns json language sql immutable as $$
    select json_build_object(
        'id', c.id, 'provider', c.provider, 'provider_call_id', c.provider_call_id,
        'driver_id', c.driver_id, 'driver_name', p_driver_name, 'agent_id', c.agent_id,
        'load_number', c.load_number, 'origin', c.origin, 'destination', c.destination,
        'appointment', c.appointment, 'status', c.status, 'scenario', c.scenario,
        'call_type', c.call_type, 'from_number', c.from_number, 'to_number', c.to_number,
        'created_at', c.created_at, 'updated_at', c.updated_at, 'started_at', c.started_at,
        'ended_at', c.ended_at, 'duration_secs', c.duration_secs,
        'interruptions_est', c.interruptions_est, 'tokens_estimated', c.tokens_estimated,
        'keyword_hits', c.keyword_hits, 'sentiment', c.sentiment, 'transcript', c.transcript,
        'structured', c.structured, 'call_outcome', c.call_outcome,
        'driver_status', c.driver_status, 'emergency_type', c.emergency_type,
        'recording_url', c.recording_url, 'disconnection_reason', c.disconnection_reason,
        'latency', c.latency, 'cost', c.cost, 'call_analysis', c.call_analysis,
        'metadata', c.metadata, 'error', c.error
    )
$$;

-- Rejects fields a call does not have, so a typo never silently drops data.
create or replace function dispatch_check_call_fields(p_patch jsonb, p_extra text[] default '{}')
returns void language plpgsql immutable as $$
declare
    unknown text;
begin
    if jsonb_typeof(p_patch) is distinct from 'object' then
        raise exception using errcode = '22023', message = 'a call update must be a JSON object';
    end if;
    select string_agg(k, ', ' order by k) into unknown
    from jsonb_object_keys(p_patch) as k
    where k <> all (p_extra || array[
        'driver_id', 'agent_id', 'load_number', 'origin', 'destination', 'appointment', 'status',
        'scenario', 'call_type', 'from_number', 'to_number', 'created_at', 'started_at',
        'ended_at', 'duration_secs', 'interruptions_est', 'tokens_estimated', 'keyword_hits',
        'sentiment', 'transcript', 'structured', 'recording_url', 'disconnection_reason',
        'latency', 'cost', 'call_analysis', 'metadata', 'error']);
    if unknown is not null then
        raise exception using errcode = '22023', message = format('unknown call field(s): %s', unknown);
    end if;
end
$$;

-- The WHERE clause (over `c`, a calllog row or a rollup row) for a filter object shaped like
-- db.models.CallFilters; unknown filters are rejected. `timezone` is the zone of a figure's
-- days (it filters nothing); `simulated` false leaves simulated calls out.
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

create or replace function ensure_driver(p_name text, p_phone text default null)
returns bigint language plpgsql volatile as $$
declare
    found_id bigint;
    clean_phone text := nullif(btrim(p_phone), '');
begin
    if clean_phone is not null then
        insert into drivers (name, phone) values (btrim(p_name), clean_phone)
        on conflict (phone) do nothing returning id into found_id;
        if found_id is null then
            select id into found_id from drivers where phone = clean_phone;
        end if;
        return found_id;
    end if;
    select id into found_id from drivers where name = btrim(p_name)
    order by (phone is null) desc, id limit 1;
    if found_id is null then
        insert into drivers (name) values (btrim(p_name))
        on conflict (name) where phone is null do nothing returning id into found_id;
        if found_id is null then
            select id into found_id from drivers where name = btrim(p_name) and phone is null;
        end if;
    end if;
    return found_id;
end
$$;

create or replace function ensure_agent(
    p_provider text, p_name text, p_external_id text default null
)
returns bigint language plpgsql volatile as $$
declare
    found_id bigint;
    clean_external_id text := nullif(btrim(p_external_id), '');
begin
    if clean_external_id is not null then
        insert into agents (provider, name, external_id)
        values (p_provider, btrim(p_name), clean_external_id)
        on conflict (provider, external_id) where external_id is not null do nothing
        returning id into found_id;
        if found_id is null then
            select id into found_id from agents
            where provider = p_provider and external_id = clean_external_id;
        end if;
        return found_id;
    end if;
    insert into agents (provider, name) values (p_provider, btrim(p_name))
    on conflict (provider, name) where external_id is null do nothing returning id into found_id;
    if found_id is null then
        select id into found_id from agents
        where provider = p_provider and name = btrim(p_name) and external_id is null;
    end if;
    return found_id;
end
$$;

-- Fast insert of new calls (demo data, backfills through PostgREST): a JSON array of objects,
-- each a call update plus provider and provider_call_id. Calls that already exist are left as
-- they are; returns how many were inserted.
create or replace function insert_calls(p_calls jsonb)
returns integer language plpgsql volatile as $$
declare
    inserted integer;
    element jsonb;
begin
    if jsonb_typeof(p_calls) is distinct from 'array' then
        raise exception using errcode = '22023', message = 'insert_calls expects a JSON array';
    end if;
    for element in select value from jsonb_array_elements(p_calls) loop
        perform dispatch_check_call_fields(
            jsonb_strip_nulls(element), array['provider', 'provider_call_id']);
    end loop;
    insert into calllog (
        provider, provider_call_id, driver_id, agent_id, load_number, origin, destination,
        appointment, status, scenario, call_type, from_number, to_number, created_at,
        started_at, ended_at, duration_secs, interruptions_est, tokens_estimated, keyword_hits,
        sentiment, transcript, structured, call_outcome, driver_status, emergency_type,
        recording_url, disconnection_reason, latency, cost, call_analysis, metadata, error
    )
    select
        p ->> 'provider', p ->> 'provider_call_id', (p ->> 'driver_id')::bigint,
        (p ->> 'agent_id')::bigint, p ->> 'load_number', p ->> 'origin', p ->> 'destination',
        p ->> 'appointment', coalesce(p ->> 'status', 'registered'), p ->> 'scenario',
        p ->> 'call_type', p ->> 'from_number', p ->> 'to_number',
        coalesce((p ->> 'created_at')::timestamptz, now()),
        (p ->> 'started_at')::timestamptz, (p ->> 'ended_at')::timestamptz,
        (p ->> 'duration_secs')::double precision, (p ->> 'interruptions_est')::integer,
        (p ->> 'tokens_estimated')::integer, p -> 'keyword_hits',
        (p ->> 'sentiment')::double precision, coalesce(p -> 'transcript', '[]'::jsonb),
        p -> 'structured', p -> 'structured' ->> 'call_outcome',
        p -> 'structured' ->> 'driver_status', p -> 'structured' ->> 'emergency_type',
        p ->> 'recording_url', p ->> 'disconnection_reason', p -> 'latency',
        (p ->> 'cost')::double precision, p -> 'call_analysis', p -> 'metadata', p ->> 'error'
    from jsonb_array_elements(p_calls) as e(value), jsonb_strip_nulls(e.value) as p
    on conflict (provider, provider_call_id) do nothing;
    get diagnostics inserted = row_count;
    return inserted;
end
$$;

-- Create or merge one call atomically. A field absent (or null) in the patch never erases a
-- known value; the transcript is replaced only by one with at least as many turns; the
-- call_outcome/driver_status/emergency_type columns follow `structured`; status never moves
-- back (ended/error stay ended/error). created_at is only honoured when the call is new. A new
-- call is inserted by insert_calls; when another insert of it won the race, it is merged.
create or replace function upsert_call(p_provider text, p_provider_call_id text, p_patch jsonb)
returns json language plpgsql volatile as $$
declare
    p jsonb := jsonb_strip_nulls(coalesce(p_patch, '{}'::jsonb));
    result json;
begin
    perform dispatch_check_call_fields(p);
    if p ? 'transcript' and jsonb_typeof(p -> 'transcript') <> 'array' then
        raise exception using errcode = '22023', message = 'transcript must be a JSON array';
    end if;
    loop
        update calllog as c set
            driver_id = coalesce(n.driver_id, c.driver_id),
            agent_id = coalesce(n.agent_id, c.agent_id),
            load_number = coalesce(n.load_number, c.load_number),
            origin = coalesce(n.origin, c.origin),
            destination = coalesce(n.destination, c.destination),
            appointment = coalesce(n.appointment, c.appointment),
            status = case
                when n.status is not null
                     and dispatch_status_rank(n.status) >= dispatch_status_rank(c.status)
                then n.status else c.status end,
            scenario = coalesce(n.scenario, c.scenario),
            call_type = coalesce(n.call_type, c.call_type),
            from_number = coalesce(n.from_number, c.from_number),
            to_number = coalesce(n.to_number, c.to_number),
            updated_at = now(),
            started_at = coalesce(n.started_at, c.started_at),
            ended_at = coalesce(n.ended_at, c.ended_at),
            duration_secs = coalesce(n.duration_secs, c.duration_secs),
            interruptions_est = coalesce(n.interruptions_est, c.interruptions_est),
            tokens_estimated = coalesce(n.tokens_estimated, c.tokens_estimated),
            keyword_hits = coalesce(n.keyword_hits, c.keyword_hits),
            sentiment = coalesce(n.sentiment, c.sentiment),
            transcript = case
                when jsonb_array_length(n.transcript) >= jsonb_array_length(c.transcript)
                then n.transcript else c.transcript end,
            structured = coalesce(n.structured, c.structured),
            call_outcome = case
                when n.structured is null then c.call_outcome
                else n.structured ->> 'call_outcome' end,
            driver_status = case
                when n.structured is null then c.driver_status
                else n.structured ->> 'driver_status' end,
            emergency_type = case
                when n.structured is null then c.emergency_type
                else n.structured ->> 'emergency_type' end,
            recording_url = coalesce(n.recording_url, c.recording_url),
            disconnection_reason = coalesce(n.disconnection_reason, c.disconnection_reason),
            latency = coalesce(n.latency, c.latency),
            cost = coalesce(n.cost, c.cost),
            call_analysis = coalesce(n.call_analysis, c.call_analysis),
            metadata = coalesce(n.metadata, c.metadata),
            error = coalesce(n.error, c.error)
        from jsonb_populate_record(null::calllog, p) as n
        where c.provider = p_provider and c.provider_call_id = p_provider_call_id;
        exit when found;
        exit when insert_calls(jsonb_build_array(p || jsonb_build_object(
            'provider', p_provider, 'provider_call_id', p_provider_call_id))) = 1;
    end loop;

    select dispatch_call_json(c, d.name) into result
    from calllog c left join drivers d on d.id = c.driver_id
    where c.provider = p_provider and c.provider_call_id = p_provider_call_id;
    return result;
end
$$;

-- Keep a raw provider event; false when its idempotency key was seen before.
create or replace function record_event(
    p_provider text, p_provider_call_id text, p_event_type text, p_idempotency_key text,
    p_payload jsonb
)
returns boolean language plpgsql volatile as $$
declare
    inserted_id bigint;
begin
    insert into call_events (provider, provider_call_id, event_type, idempotency_key, payload)
    values (p_provider, p_provider_call_id, p_event_type, p_idempotency_key,
            coalesce(p_payload, '{}'::jsonb))
    on conflict (idempotency_key) do nothing
    returning id into inserted_id;
    return inserted_id is not null;
end
$$;

create or replace function get_call(p_provider_call_id text, p_provider text default null)
returns json language sql stable as $$
    select dispatch_call_json(c, d.name)
    from calllog c left join drivers d on d.id = c.driver_id
    where c.provider_call_id = p_provider_call_id
      and (p_provider is null or c.provider = p_provider)
    order by c.created_at desc, c.id desc
    limit 1
$$;

create or replace function dispatch_check_page(p_page integer, p_page_size integer)
returns void language plpgsql immutable as $$
begin
    if p_page is null or p_page < 1 then
        raise exception using errcode = '22023', message = 'page must be 1 or more';
    end if;
    if p_page_size is null or p_page_size < 1 or p_page_size > 1000 then
        raise exception using errcode = '22023', message = 'page_size must be between 1 and 1000';
    end if;
end
$$;

-- One page of matching calls and the exact total: {items, total, page, page_size}.
create or replace function search_calls(
    p_filters jsonb default '{}', p_sort text default '-created_at',
    p_page integer default 1, p_page_size integer default 50
)
returns json language plpgsql stable as $$
declare
    where_sql text := dispatch_call_filter(p_filters);
    order_sql text;
    total bigint;
    items json;
begin
    perform dispatch_check_page(p_page, p_page_size);
    order_sql := case p_sort
        when '-created_at' then 'c.created_at desc, c.id desc'
        when 'created_at' then 'c.created_at asc, c.id asc'
        when '-duration_secs' then 'c.duration_secs desc nulls last, c.id desc'
        when 'duration_secs' then 'c.duration_secs asc nulls last, c.id asc'
    end;
    if order_sql is null then
        raise exception using errcode = '22023', message = format('unknown sort: %s', p_sort);
    end if;
    execute format(
        'select count(*) from calllog c where %s',
        where_sql) into total;
    execute format(
        'select coalesce(json_agg(page.call order by page.n), ''[]''::json) from ('
        '  select dispatch_call_json(c, d.name) as call, row_number() over (order by %1$s) as n'
        '  from calllog c left join drivers d on d.id = c.driver_id where %2$s'
        '  order by %1$s limit %3$s offset %4$s) as page',
        order_sql, where_sql, p_page_size, (p_page - 1)::bigint * p_page_size) into items;
    return json_build_object(
        'items', items, 'total', total, 'page', p_page, 'page_size', p_page_size);
end
$$;

-- Export in constant memory: the next batch (newest first) after the keyset
-- (p_after_created_at, p_after_id), or the first batch when both are null. A JSON array.
create or replace function export_calls(
    p_filters jsonb default '{}', p_after_created_at timestamptz default null,
    p_after_id bigint default null, p_limit integer default 1000
)
returns json language plpgsql stable as $$
declare
    where_sql text := dispatch_call_filter(p_filters);
    batch json;
begin
    perform dispatch_check_page(1, p_limit);
    if p_after_id is not null then
        where_sql := where_sql || format(
            ' and (c.created_at, c.id) < (%L::timestamptz, %s)', p_after_created_at, p_after_id);
    end if;
    execute format(
        'select coalesce(json_agg(page.call order by page.n), ''[]''::json) from ('
        '  select dispatch_call_json(c, d.name) as call,'
        '         row_number() over (order by c.created_at desc, c.id desc) as n'
        '  from calllog c left join drivers d on d.id = c.driver_id where %s'
        '  order by c.created_at desc, c.id desc limit %s) as page',
        where_sql, p_limit) into batch;
    return batch;
end
$$;

-- The migrations applied, in order: how a client that cannot read tables (PostgREST with
-- row-level security) tells whether the schema is current.
create or replace function dispatch_schema_version()
returns text[] language sql stable as $$
    select coalesce(array_agg(name order by name), '{}') from schema_migrations
$$;
