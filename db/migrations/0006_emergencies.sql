-- Emergencies: an honest escalation status, and alerts the office acknowledges.
--
-- 1. The structured result's escalation_status says what happened (agent.vocabulary
--    EscalationStatus). Before, every escalated call said 'Connected to Human Dispatcher'
--    whether or not anyone answered: all that was ever known is that a transfer was asked for.
-- 2. A provider's word on a transfer (connected, failed) is never downgraded by a later write
--    of the agent's own view (requested): the status only moves to a higher rank, whatever
--    order the socket's result and Retell's transfer webhooks arrive in.
-- 3. emergency_alerts: one open alert per emergency call until a manager acknowledges it;
--    emergency_alert_log keeps who did what and when (raised, acknowledged), never deleted.

update calllog
set structured = jsonb_set(structured, '{escalation_status}', '"Transfer Requested"')
where structured ->> 'escalation_status' = 'Connected to Human Dispatcher';

create table emergency_alerts (
    id                bigint generated always as identity primary key,
    provider          text not null check (provider in ('retell', 'pipecat')),
    provider_call_id  text not null check (length(provider_call_id) > 0),
    raised_at         timestamptz not null default now(),
    acknowledged_at   timestamptz,
    acknowledged_by   text check (acknowledged_by is null or length(trim(acknowledged_by)) > 0),
    check ((acknowledged_at is null) = (acknowledged_by is null)),
    unique (provider, provider_call_id)
);
-- The dashboard reads the open ones, newest first.
create index emergency_alerts_open_idx on emergency_alerts (raised_at desc)
    where acknowledged_at is null;

create table emergency_alert_log (
    id         bigint generated always as identity primary key,
    alert_id   bigint not null references emergency_alerts (id),
    action     text not null check (action in ('raised', 'acknowledged')),
    actor      text,
    at         timestamptz not null default now()
);
create index emergency_alert_log_alert_idx on emergency_alert_log (alert_id, at);

-- Supabase: as in 0003_rls.sql, only the service role reads, writes and calls these.
alter table emergency_alerts enable row level security;
alter table emergency_alert_log enable row level security;
