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

-- The new key column comes last in both rollups (the rollup statements insert by position).
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

-- The calls already stored, grouped again with the new key (by definitions/figures.sql, applied
-- with this migration).
truncate calllog_daily, calllog_daily_keywords;
