-- Simulated calls (the Trigger page's, where a manager types as the driver) are stored as
-- Retell calls with call_type 'simulated'; figures leave them out unless asked to include
-- them. The daily rollups gain `simulated` (1 or 0) as one more key column, so metrics keep
-- reading them for whole days with or without simulated calls. The tables and triggers of
-- sqlite_0003_daily_rollup.sql (as sqlite_0004_one_schema.sql renamed the latency column),
-- with that key; an update of call_type moves a call between groups. PostgreSQL does the same
-- in migrations/0014_simulated_calls.sql.
DROP TRIGGER calllog_daily_after_insert;
DROP TRIGGER calllog_daily_after_delete;
DROP TRIGGER calllog_daily_after_update;
DROP TABLE calllog_daily;
DROP TABLE calllog_daily_keywords;

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

CREATE TRIGGER calllog_daily_after_insert AFTER INSERT ON calllog
WHEN NOT EXISTS (SELECT 1 FROM calllog_rollup_paused)
BEGIN
    INSERT INTO calllog_daily VALUES (
        NEW.provider, substr(NEW.created_at, 1, 10), NEW.status, coalesce(NEW.call_outcome, ''),
        coalesce(NEW.driver_status, ''), coalesce(NEW.emergency_type, ''),
        coalesce(CAST(NEW.duration_secs / 60 AS INTEGER), -9223372036854775808),
        1, NEW.duration_secs IS NOT NULL, coalesce(NEW.duration_secs, 0),
        NEW.sentiment IS NOT NULL, coalesce(NEW.sentiment, 0),
        NEW.interruptions_est IS NOT NULL, coalesce(NEW.interruptions_est, 0),
        coalesce(NEW.tokens_estimated, 0),
        NEW.e2e_latency_ms IS NOT NULL, coalesce(NEW.e2e_latency_ms, 0),
        NEW.call_type IS 'simulated'
    )
    ON CONFLICT DO UPDATE SET
        calls = calls + excluded.calls,
        duration_n = duration_n + excluded.duration_n,
        duration_sum = duration_sum + excluded.duration_sum,
        sentiment_n = sentiment_n + excluded.sentiment_n,
        sentiment_sum = sentiment_sum + excluded.sentiment_sum,
        interruptions_n = interruptions_n + excluded.interruptions_n,
        interruptions_sum = interruptions_sum + excluded.interruptions_sum,
        tokens_sum = tokens_sum + excluded.tokens_sum,
        latency_n = latency_n + excluded.latency_n,
        latency_sum = latency_sum + excluded.latency_sum;
    INSERT INTO calllog_daily_keywords
    SELECT NEW.provider, substr(NEW.created_at, 1, 10), NEW.status,
           coalesce(NEW.call_outcome, ''), coalesce(NEW.driver_status, ''),
           coalesce(NEW.emergency_type, ''), hit.key, 1, hit.value,
           NEW.call_type IS 'simulated'
    FROM json_each(NEW.keyword_hits) AS hit WHERE hit.type IN ('integer', 'real')
    ON CONFLICT DO UPDATE SET calls = calls + 1, hits = hits + excluded.hits;
END;

CREATE TRIGGER calllog_daily_after_delete AFTER DELETE ON calllog
WHEN NOT EXISTS (SELECT 1 FROM calllog_rollup_paused)
BEGIN
    UPDATE calllog_daily SET
        calls = calls - 1,
        duration_n = duration_n - (OLD.duration_secs IS NOT NULL),
        duration_sum = duration_sum - coalesce(OLD.duration_secs, 0),
        sentiment_n = sentiment_n - (OLD.sentiment IS NOT NULL),
        sentiment_sum = sentiment_sum - coalesce(OLD.sentiment, 0),
        interruptions_n = interruptions_n - (OLD.interruptions_est IS NOT NULL),
        interruptions_sum = interruptions_sum - coalesce(OLD.interruptions_est, 0),
        tokens_sum = tokens_sum - coalesce(OLD.tokens_estimated, 0),
        latency_n = latency_n - (OLD.e2e_latency_ms IS NOT NULL),
        latency_sum = latency_sum - coalesce(OLD.e2e_latency_ms, 0)
    WHERE provider = OLD.provider AND day = substr(OLD.created_at, 1, 10)
      AND status = OLD.status AND call_outcome = coalesce(OLD.call_outcome, '')
      AND driver_status = coalesce(OLD.driver_status, '')
      AND emergency_type = coalesce(OLD.emergency_type, '')
      AND duration_bucket
          = coalesce(CAST(OLD.duration_secs / 60 AS INTEGER), -9223372036854775808)
      AND simulated = (OLD.call_type IS 'simulated');
    DELETE FROM calllog_daily
    WHERE provider = OLD.provider AND day = substr(OLD.created_at, 1, 10)
      AND status = OLD.status AND call_outcome = coalesce(OLD.call_outcome, '')
      AND driver_status = coalesce(OLD.driver_status, '')
      AND emergency_type = coalesce(OLD.emergency_type, '')
      AND duration_bucket
          = coalesce(CAST(OLD.duration_secs / 60 AS INTEGER), -9223372036854775808)
      AND simulated = (OLD.call_type IS 'simulated')
      AND calls = 0;
    UPDATE calllog_daily_keywords SET
        calls = calls - 1,
        hits = hits - (
            SELECT hit.value FROM json_each(OLD.keyword_hits) AS hit
            WHERE hit.key = calllog_daily_keywords.keyword
        )
    WHERE provider = OLD.provider AND day = substr(OLD.created_at, 1, 10)
      AND status = OLD.status AND call_outcome = coalesce(OLD.call_outcome, '')
      AND driver_status = coalesce(OLD.driver_status, '')
      AND emergency_type = coalesce(OLD.emergency_type, '')
      AND simulated = (OLD.call_type IS 'simulated')
      AND keyword IN (
          SELECT hit.key FROM json_each(OLD.keyword_hits) AS hit
          WHERE hit.type IN ('integer', 'real')
      );
    DELETE FROM calllog_daily_keywords
    WHERE provider = OLD.provider AND day = substr(OLD.created_at, 1, 10)
      AND status = OLD.status AND call_outcome = coalesce(OLD.call_outcome, '')
      AND driver_status = coalesce(OLD.driver_status, '')
      AND emergency_type = coalesce(OLD.emergency_type, '')
      AND simulated = (OLD.call_type IS 'simulated')
      AND calls = 0;
END;

-- An update moves the call out of its old group and into its new one: the delete trigger's
-- work on OLD, then the insert trigger's on NEW.
CREATE TRIGGER calllog_daily_after_update AFTER UPDATE OF
    provider, created_at, status, call_outcome, driver_status, emergency_type, duration_secs,
    sentiment, interruptions_est, tokens_estimated, e2e_latency_ms, keyword_hits, call_type
ON calllog
WHEN NOT EXISTS (SELECT 1 FROM calllog_rollup_paused)
BEGIN
    UPDATE calllog_daily SET
        calls = calls - 1,
        duration_n = duration_n - (OLD.duration_secs IS NOT NULL),
        duration_sum = duration_sum - coalesce(OLD.duration_secs, 0),
        sentiment_n = sentiment_n - (OLD.sentiment IS NOT NULL),
        sentiment_sum = sentiment_sum - coalesce(OLD.sentiment, 0),
        interruptions_n = interruptions_n - (OLD.interruptions_est IS NOT NULL),
        interruptions_sum = interruptions_sum - coalesce(OLD.interruptions_est, 0),
        tokens_sum = tokens_sum - coalesce(OLD.tokens_estimated, 0),
        latency_n = latency_n - (OLD.e2e_latency_ms IS NOT NULL),
        latency_sum = latency_sum - coalesce(OLD.e2e_latency_ms, 0)
    WHERE provider = OLD.provider AND day = substr(OLD.created_at, 1, 10)
      AND status = OLD.status AND call_outcome = coalesce(OLD.call_outcome, '')
      AND driver_status = coalesce(OLD.driver_status, '')
      AND emergency_type = coalesce(OLD.emergency_type, '')
      AND duration_bucket
          = coalesce(CAST(OLD.duration_secs / 60 AS INTEGER), -9223372036854775808)
      AND simulated = (OLD.call_type IS 'simulated');
    DELETE FROM calllog_daily
    WHERE provider = OLD.provider AND day = substr(OLD.created_at, 1, 10)
      AND status = OLD.status AND call_outcome = coalesce(OLD.call_outcome, '')
      AND driver_status = coalesce(OLD.driver_status, '')
      AND emergency_type = coalesce(OLD.emergency_type, '')
      AND duration_bucket
          = coalesce(CAST(OLD.duration_secs / 60 AS INTEGER), -9223372036854775808)
      AND simulated = (OLD.call_type IS 'simulated')
      AND calls = 0;
    UPDATE calllog_daily_keywords SET
        calls = calls - 1,
        hits = hits - (
            SELECT hit.value FROM json_each(OLD.keyword_hits) AS hit
            WHERE hit.key = calllog_daily_keywords.keyword
        )
    WHERE provider = OLD.provider AND day = substr(OLD.created_at, 1, 10)
      AND status = OLD.status AND call_outcome = coalesce(OLD.call_outcome, '')
      AND driver_status = coalesce(OLD.driver_status, '')
      AND emergency_type = coalesce(OLD.emergency_type, '')
      AND simulated = (OLD.call_type IS 'simulated')
      AND keyword IN (
          SELECT hit.key FROM json_each(OLD.keyword_hits) AS hit
          WHERE hit.type IN ('integer', 'real')
      );
    DELETE FROM calllog_daily_keywords
    WHERE provider = OLD.provider AND day = substr(OLD.created_at, 1, 10)
      AND status = OLD.status AND call_outcome = coalesce(OLD.call_outcome, '')
      AND driver_status = coalesce(OLD.driver_status, '')
      AND emergency_type = coalesce(OLD.emergency_type, '')
      AND simulated = (OLD.call_type IS 'simulated')
      AND calls = 0;
    INSERT INTO calllog_daily VALUES (
        NEW.provider, substr(NEW.created_at, 1, 10), NEW.status, coalesce(NEW.call_outcome, ''),
        coalesce(NEW.driver_status, ''), coalesce(NEW.emergency_type, ''),
        coalesce(CAST(NEW.duration_secs / 60 AS INTEGER), -9223372036854775808),
        1, NEW.duration_secs IS NOT NULL, coalesce(NEW.duration_secs, 0),
        NEW.sentiment IS NOT NULL, coalesce(NEW.sentiment, 0),
        NEW.interruptions_est IS NOT NULL, coalesce(NEW.interruptions_est, 0),
        coalesce(NEW.tokens_estimated, 0),
        NEW.e2e_latency_ms IS NOT NULL, coalesce(NEW.e2e_latency_ms, 0),
        NEW.call_type IS 'simulated'
    )
    ON CONFLICT DO UPDATE SET
        calls = calls + excluded.calls,
        duration_n = duration_n + excluded.duration_n,
        duration_sum = duration_sum + excluded.duration_sum,
        sentiment_n = sentiment_n + excluded.sentiment_n,
        sentiment_sum = sentiment_sum + excluded.sentiment_sum,
        interruptions_n = interruptions_n + excluded.interruptions_n,
        interruptions_sum = interruptions_sum + excluded.interruptions_sum,
        tokens_sum = tokens_sum + excluded.tokens_sum,
        latency_n = latency_n + excluded.latency_n,
        latency_sum = latency_sum + excluded.latency_sum;
    INSERT INTO calllog_daily_keywords
    SELECT NEW.provider, substr(NEW.created_at, 1, 10), NEW.status,
           coalesce(NEW.call_outcome, ''), coalesce(NEW.driver_status, ''),
           coalesce(NEW.emergency_type, ''), hit.key, 1, hit.value,
           NEW.call_type IS 'simulated'
    FROM json_each(NEW.keyword_hits) AS hit WHERE hit.type IN ('integer', 'real')
    ON CONFLICT DO UPDATE SET calls = calls + 1, hits = hits + excluded.hits;
END;

-- The calls already stored (the same grouped statements a bulk insert runs for its rows).
INSERT INTO calllog_daily
SELECT provider, substr(created_at, 1, 10), status, coalesce(call_outcome, ''),
       coalesce(driver_status, ''), coalesce(emergency_type, ''),
       coalesce(CAST(duration_secs / 60 AS INTEGER), -9223372036854775808),
       count(*), count(duration_secs), coalesce(sum(duration_secs), 0),
       count(sentiment), coalesce(sum(sentiment), 0),
       count(interruptions_est), coalesce(sum(interruptions_est), 0),
       coalesce(sum(tokens_estimated), 0),
       count(e2e_latency_ms), coalesce(sum(e2e_latency_ms), 0), call_type IS 'simulated'
FROM calllog WHERE id > 0
GROUP BY 1, 2, 3, 4, 5, 6, 7, 18;

INSERT INTO calllog_daily_keywords
SELECT c.provider, substr(c.created_at, 1, 10), c.status, coalesce(c.call_outcome, ''),
       coalesce(c.driver_status, ''), coalesce(c.emergency_type, ''), hit.key, count(*),
       sum(hit.value), c.call_type IS 'simulated'
FROM calllog AS c, json_each(c.keyword_hits) AS hit
WHERE c.id > 0 AND hit.type IN ('integer', 'real')
GROUP BY 1, 2, 3, 4, 5, 6, 7, 10;
