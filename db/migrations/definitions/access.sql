-- Who may do what, for Supabase: every table has row-level security and no policy (each
-- numbered migration enables it on the tables it creates), so the public `anon` and
-- `authenticated` roles read and write nothing; only the service role (which bypasses RLS) and
-- the table owner (migrations and PostgresStore) see rows. Functions run with the caller's
-- rights and only the service role may call them: the migration runner grants that for every
-- function these files define, after this file. Safe on plain PostgreSQL: the Supabase roles
-- are created when missing (NOLOGIN).

do $$
declare
    role_name text;
    tables text := 'drivers, agents, calllog, call_events, schema_migrations, calllog_daily, '
        'calllog_daily_keywords, emergency_alerts, emergency_alert_log, loads, call_slots, '
        'call_attempts, webhook_outbox, bot_sessions';
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

    foreach role_name in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_roles where rolname = role_name) then
            execute format('revoke all on %s, calllog_rollup_zone from %I', tables, role_name);
            execute format('revoke all on all sequences in schema public from %I', role_name);
        end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
        grant usage on schema public to service_role;
        execute format('grant select, insert, update, delete on %s to service_role', tables);
        grant select, update on calllog_rollup_zone to service_role;
        grant usage, select on all sequences in schema public to service_role;
    end if;
end
$$;
