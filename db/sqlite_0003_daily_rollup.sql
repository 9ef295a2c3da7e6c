-- Daily rollups of calllog, so a dashboard over a month of a million calls reads a few thousand
-- grouped rows instead of every call. One row per (provider, UTC day, status, outcome, driver
-- status, emergency type, duration bucket) with the counts and sums every metric needs; keyword
-- counts per (provider, day, status, outcome, driver status, emergency type, keyword).
-- Key columns never hold NULL (a primary key treats NULLs as distinct): NULL is stored as ''
-- (text) or the smallest integer (bucket: a negative duration, which SQLite does not reject, has
-- a negative bucket of its own) and turned back into NULL when read.
-- Triggers (sqlite_definitions.sql) keep both tables exact on every insert, update and delete;
-- the Store's migrate builds them from the calls already stored. A bulk insert pauses the
-- triggers (a row in calllog_rollup_paused, inserted and deleted inside its own transaction, so
-- no other connection ever sees it) and adds its rows with one grouped statement instead.
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
    PRIMARY KEY (
        provider, day, status, call_outcome, driver_status, emergency_type, duration_bucket
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
    PRIMARY KEY (provider, day, status, call_outcome, driver_status, emergency_type, keyword)
) WITHOUT ROWID;

CREATE TABLE calllog_rollup_paused (paused INTEGER PRIMARY KEY);
