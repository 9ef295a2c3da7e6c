-- Daily rollups of calllog, so metrics over a month of a million calls read a few thousand
-- grouped rows instead of every call (the same design as SQLite's sqlite_0003_daily_rollup.sql).
-- One row per (provider, UTC day, status, outcome, driver status, emergency type, duration
-- bucket) with the counts and sums every metric needs; keyword counts per (provider, day,
-- status, outcome, driver status, emergency type, keyword). Key columns are never NULL (a
-- primary key cannot hold NULL): NULL is stored as '' (text) or -1 (bucket).
-- The triggers that keep them exact and the readers: definitions/figures.sql.

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

-- Row-level security as for the other tables (see 0003_rls.sql). The calls already stored are
-- added to the rollups by definitions/figures.sql, applied with this migration.
alter table calllog_daily enable row level security;
alter table calllog_daily_keywords enable row level security;
