-- Row-level security for Supabase: every table has RLS enabled and no policy, so the public
-- `anon` and `authenticated` roles read and write nothing; only the service role (which
-- bypasses RLS) and the table owner (our migrations and PostgresStore) see rows.
-- Safe on plain PostgreSQL: the Supabase roles are created when missing (NOLOGIN).

do $$
declare
    role_name text;
begin
    foreach role_name in array array['anon', 'authenticated', 'service_role'] loop
        if not exists (select 1 from pg_roles where rolname = role_name) then
            begin
                execute format('create role %I nologin', role_name);
            exception when insufficient_privilege or duplicate_object then
                raise notice 'role % not created: %', role_name, sqlerrm;
            end;
        end if;
    end loop;
    -- As on Supabase, the service role bypasses row-level security (needs a superuser here).
    if exists (select 1 from pg_roles where rolname = 'service_role' and not rolbypassrls) then
        begin
            alter role service_role bypassrls;
        exception when insufficient_privilege then
            raise notice 'service_role keeps row-level security: %', sqlerrm;
        end;
    end if;
end
$$;

alter table drivers enable row level security;
alter table agents enable row level security;
alter table calllog enable row level security;
alter table call_events enable row level security;
alter table schema_migrations enable row level security;

do $$
begin
    if exists (select 1 from pg_roles where rolname = 'anon') then
        revoke all on drivers, agents, calllog, call_events, schema_migrations from anon;
        revoke all on all sequences in schema public from anon;
    end if;
    if exists (select 1 from pg_roles where rolname = 'authenticated') then
        revoke all on drivers, agents, calllog, call_events, schema_migrations from authenticated;
        revoke all on all sequences in schema public from authenticated;
    end if;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
        grant usage on schema public to service_role;
        grant select, insert, update, delete
            on drivers, agents, calllog, call_events, schema_migrations to service_role;
        grant usage, select on all sequences in schema public to service_role;
    end if;
end
$$;

-- The functions run with the caller's rights; only the service role may call them.
do $$
declare
    fn regprocedure;
begin
    for fn in
        select p.oid::regprocedure
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = current_schema()
          and p.proname in (
              'dispatch_status_rank', 'dispatch_call_json', 'dispatch_check_call_fields',
              'dispatch_call_filter', 'ensure_driver', 'ensure_agent', 'upsert_call',
              'insert_calls', 'record_event', 'get_call', 'dispatch_check_page', 'search_calls',
              'export_calls', 'dispatch_call_aggregates', 'retell_metrics', 'pipecat_metrics',
              'dispatch_schema_version')
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
