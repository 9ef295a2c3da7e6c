-- Triggers and views, each once and in its final form. The Store's migrate runs this file after
-- the numbered migrations, in the same transaction, whenever it changed or a migration ran, and
-- records it in schema_migrations as definitions@<first 16 hex digits of its sha256>.
-- The rule: a numbered file (MIGRATIONS in db/sqlite_store.py) holds what must run once (tables,
-- columns, indexes, data changes); it is applied once and never edited from now on. A trigger or
-- view is edited here, in place; a new one is added here, and one an older numbered file still
-- creates is changed by defining it here. Each begins with DROP ... IF EXISTS, so the file runs
-- on any version of the schema.

-- The daily rollups (sqlite_0003_daily_rollup.sql, sqlite_0013_simulated_calls.sql) are kept
-- exact by triggers on calllog. The rollup work is written once, in the view
-- calllog_rollup_change: a call is added with sign 1 and taken back with sign -1, as
-- PostgreSQL's dispatch_rollup_add_sql does with its signed rows. Days are the call's days in
-- the rollups' zone (calllog_rollup_offsets, sqlite_0015_office_days.sql); a call without a
-- duration is in bucket -1 (sqlite_0016_no_duration_bucket.sql). A bulk insert pauses the
-- triggers (a row in calllog_rollup_paused, inside its own transaction) and adds its rows with
-- one grouped statement instead (ROLLUP_ADD_NEW_CALLS in db/sqlite_queries.py).
DROP VIEW IF EXISTS calllog_rollup_change;
CREATE VIEW calllog_rollup_change AS
SELECT 0 AS sign, provider, created_at, status, call_outcome, driver_status, emergency_type,
       duration_secs, sentiment, interruptions_est, tokens_estimated, e2e_latency_ms,
       keyword_hits, call_type
FROM calllog WHERE 0;

DROP TRIGGER IF EXISTS calllog_rollup_change_apply;
CREATE TRIGGER calllog_rollup_change_apply INSTEAD OF INSERT ON calllog_rollup_change
BEGIN
    INSERT INTO calllog_daily VALUES (
        NEW.provider, date(NEW.created_at, (
            SELECT offset_secs FROM calllog_rollup_offsets WHERE starts_at <= NEW.created_at
            ORDER BY starts_at DESC LIMIT 1) || ' seconds'),
        NEW.status, coalesce(NEW.call_outcome, ''),
        coalesce(NEW.driver_status, ''), coalesce(NEW.emergency_type, ''),
        coalesce(CAST(NEW.duration_secs / 60 AS INTEGER), -1),
        NEW.sign, NEW.sign * (NEW.duration_secs IS NOT NULL),
        NEW.sign * coalesce(NEW.duration_secs, 0),
        NEW.sign * (NEW.sentiment IS NOT NULL), NEW.sign * coalesce(NEW.sentiment, 0),
        NEW.sign * (NEW.interruptions_est IS NOT NULL),
        NEW.sign * coalesce(NEW.interruptions_est, 0),
        NEW.sign * coalesce(NEW.tokens_estimated, 0),
        NEW.sign * (NEW.e2e_latency_ms IS NOT NULL), NEW.sign * coalesce(NEW.e2e_latency_ms, 0),
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
    DELETE FROM calllog_daily
    WHERE calls = 0 AND provider = NEW.provider AND day = date(NEW.created_at, (
              SELECT offset_secs FROM calllog_rollup_offsets WHERE starts_at <= NEW.created_at
              ORDER BY starts_at DESC LIMIT 1) || ' seconds')
      AND status = NEW.status AND call_outcome = coalesce(NEW.call_outcome, '')
      AND driver_status = coalesce(NEW.driver_status, '')
      AND emergency_type = coalesce(NEW.emergency_type, '')
      AND duration_bucket = coalesce(CAST(NEW.duration_secs / 60 AS INTEGER), -1)
      AND simulated = (NEW.call_type IS 'simulated');
    INSERT INTO calllog_daily_keywords
    SELECT NEW.provider, date(NEW.created_at, (
            SELECT offset_secs FROM calllog_rollup_offsets WHERE starts_at <= NEW.created_at
            ORDER BY starts_at DESC LIMIT 1) || ' seconds'),
           NEW.status,
           coalesce(NEW.call_outcome, ''), coalesce(NEW.driver_status, ''),
           coalesce(NEW.emergency_type, ''), hit.key, NEW.sign, NEW.sign * hit.value,
           NEW.call_type IS 'simulated'
    FROM json_each(NEW.keyword_hits) AS hit WHERE hit.type IN ('integer', 'real')
    ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, hits = hits + excluded.hits;
    DELETE FROM calllog_daily_keywords
    WHERE calls = 0 AND provider = NEW.provider AND day = date(NEW.created_at, (
              SELECT offset_secs FROM calllog_rollup_offsets WHERE starts_at <= NEW.created_at
              ORDER BY starts_at DESC LIMIT 1) || ' seconds')
      AND status = NEW.status AND call_outcome = coalesce(NEW.call_outcome, '')
      AND driver_status = coalesce(NEW.driver_status, '')
      AND emergency_type = coalesce(NEW.emergency_type, '')
      AND simulated = (NEW.call_type IS 'simulated');
END;

DROP TRIGGER IF EXISTS calllog_daily_after_insert;
CREATE TRIGGER calllog_daily_after_insert AFTER INSERT ON calllog
WHEN NOT EXISTS (SELECT 1 FROM calllog_rollup_paused)
BEGIN
    INSERT INTO calllog_rollup_change VALUES (
        1, NEW.provider, NEW.created_at, NEW.status, NEW.call_outcome, NEW.driver_status,
        NEW.emergency_type, NEW.duration_secs, NEW.sentiment, NEW.interruptions_est,
        NEW.tokens_estimated, NEW.e2e_latency_ms, NEW.keyword_hits, NEW.call_type
    );
END;

DROP TRIGGER IF EXISTS calllog_daily_after_delete;
CREATE TRIGGER calllog_daily_after_delete AFTER DELETE ON calllog
WHEN NOT EXISTS (SELECT 1 FROM calllog_rollup_paused)
BEGIN
    INSERT INTO calllog_rollup_change VALUES (
        -1, OLD.provider, OLD.created_at, OLD.status, OLD.call_outcome, OLD.driver_status,
        OLD.emergency_type, OLD.duration_secs, OLD.sentiment, OLD.interruptions_est,
        OLD.tokens_estimated, OLD.e2e_latency_ms, OLD.keyword_hits, OLD.call_type
    );
END;

-- An update moves the call out of its old group and into its new one.
DROP TRIGGER IF EXISTS calllog_daily_after_update;
CREATE TRIGGER calllog_daily_after_update AFTER UPDATE OF
    provider, created_at, status, call_outcome, driver_status, emergency_type, duration_secs,
    sentiment, interruptions_est, tokens_estimated, e2e_latency_ms, keyword_hits, call_type
ON calllog
WHEN NOT EXISTS (SELECT 1 FROM calllog_rollup_paused)
BEGIN
    INSERT INTO calllog_rollup_change VALUES (
        -1, OLD.provider, OLD.created_at, OLD.status, OLD.call_outcome, OLD.driver_status,
        OLD.emergency_type, OLD.duration_secs, OLD.sentiment, OLD.interruptions_est,
        OLD.tokens_estimated, OLD.e2e_latency_ms, OLD.keyword_hits, OLD.call_type
    );
    INSERT INTO calllog_rollup_change VALUES (
        1, NEW.provider, NEW.created_at, NEW.status, NEW.call_outcome, NEW.driver_status,
        NEW.emergency_type, NEW.duration_secs, NEW.sentiment, NEW.interruptions_est,
        NEW.tokens_estimated, NEW.e2e_latency_ms, NEW.keyword_hits, NEW.call_type
    );
END;
