-- Simulated calls (the Trigger page's, where a manager types as the driver) are stored as
-- Retell calls with call_type 'simulated'; figures leave them out unless asked to include
-- them. The daily rollups (sqlite_0003_daily_rollup.sql) gain `simulated` (1 or 0) as one more
-- key column, so metrics keep reading them for whole days with or without simulated calls;
-- the Store's migrate rebuilds them from the calls. PostgreSQL does the same in
-- migrations/0014_simulated_calls.sql. The tables an older database has, and the triggers that
-- write their columns, go (sqlite_definitions.sql creates today's in the same transaction).
DROP TRIGGER IF EXISTS calllog_daily_after_insert;
DROP TRIGGER IF EXISTS calllog_daily_after_delete;
DROP TRIGGER IF EXISTS calllog_daily_after_update;
DROP TABLE IF EXISTS calllog_daily;
DROP TABLE IF EXISTS calllog_daily_keywords;

CREATE TABLE calllog_daily (
    provider          TEXT NOT NULL,
    day               TEXT NOT NULL,
    status            TEXT NOT NULL,
    call_outcome      TEXT NOT NULL,
    driver_status     TEXT NOT NULL,
    emergency_type    TEXT NOT NULL,
    duration_bucket   INTEGER NOT NULL,
    calls             INTEGER NOT NULL,
    duration_n        INTEGER NOT NULL,
    duration_sum      REAL NOT NULL,
    sentiment_n       INTEGER NOT NULL,
    sentiment_sum     REAL NOT NULL,
    interruptions_n   INTEGER NOT NULL,
    interruptions_sum INTEGER NOT NULL,
    tokens_sum        INTEGER NOT NULL,
    latency_n         INTEGER NOT NULL,
    latency_sum       REAL NOT NULL,
    simulated         INTEGER NOT NULL,
    PRIMARY KEY (
        provider, day, status, call_outcome, driver_status, emergency_type, duration_bucket,
        simulated
    )
) WITHOUT ROWID;

CREATE TABLE calllog_daily_keywords (
    provider       TEXT NOT NULL,
    day            TEXT NOT NULL,
    status         TEXT NOT NULL,
    call_outcome   TEXT NOT NULL,
    driver_status  TEXT NOT NULL,
    emergency_type TEXT NOT NULL,
    keyword        TEXT NOT NULL,
    calls          INTEGER NOT NULL,
    hits           INTEGER NOT NULL,
    simulated      INTEGER NOT NULL,
    PRIMARY KEY (
        provider, day, status, call_outcome, driver_status, emergency_type, keyword, simulated
    )
) WITHOUT ROWID;
