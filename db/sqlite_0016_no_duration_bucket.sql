-- A call without a duration is counted in calllog_daily's duration_bucket -1, as on PostgreSQL
-- (migrations/0004_daily_rollup.sql); SQLite used -2^63. Durations are never negative
-- (sqlite_0004_one_schema.sql), so -1 is no minute's bucket and the renamed rows meet no other.
UPDATE calllog_daily SET duration_bucket = -1 WHERE duration_bucket = -9223372036854775808;

-- The triggers of sqlite_0013_simulated_calls.sql with the new key. The rollup work is written
-- once, in the view calllog_rollup_change: a call is added with sign 1 and taken back with
-- sign -1, as PostgreSQL's dispatch_rollup_add_sql does with its signed rows.
DROP TRIGGER calllog_daily_after_insert;
DROP TRIGGER calllog_daily_after_delete;
DROP TRIGGER calllog_daily_after_update;

CREATE VIEW calllog_rollup_change AS
SELECT 0 AS sign, provider, created_at, status, call_outcome, driver_status, emergency_type,
       duration_secs, sentiment, interruptions_est, tokens_estimated, e2e_latency_ms,
       keyword_hits, call_type
FROM calllog WHERE 0;

CREATE TRIGGER calllog_rollup_change_apply INSTEAD OF INSERT ON calllog_rollup_change
BEGIN
    INSERT INTO calllog_daily VALUES (
        NEW.provider, substr(NEW.created_at, 1, 10), NEW.status, coalesce(NEW.call_outcome, ''),
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
    WHERE calls = 0 AND provider = NEW.provider AND day = substr(NEW.created_at, 1, 10)
      AND status = NEW.status AND call_outcome = coalesce(NEW.call_outcome, '')
      AND driver_status = coalesce(NEW.driver_status, '')
      AND emergency_type = coalesce(NEW.emergency_type, '')
      AND duration_bucket = coalesce(CAST(NEW.duration_secs / 60 AS INTEGER), -1)
      AND simulated = (NEW.call_type IS 'simulated');
    INSERT INTO calllog_daily_keywords
    SELECT NEW.provider, substr(NEW.created_at, 1, 10), NEW.status,
           coalesce(NEW.call_outcome, ''), coalesce(NEW.driver_status, ''),
           coalesce(NEW.emergency_type, ''), hit.key, NEW.sign, NEW.sign * hit.value,
           NEW.call_type IS 'simulated'
    FROM json_each(NEW.keyword_hits) AS hit WHERE hit.type IN ('integer', 'real')
    ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, hits = hits + excluded.hits;
    DELETE FROM calllog_daily_keywords
    WHERE calls = 0 AND provider = NEW.provider AND day = substr(NEW.created_at, 1, 10)
      AND status = NEW.status AND call_outcome = coalesce(NEW.call_outcome, '')
      AND driver_status = coalesce(NEW.driver_status, '')
      AND emergency_type = coalesce(NEW.emergency_type, '')
      AND simulated = (NEW.call_type IS 'simulated');
END;

CREATE TRIGGER calllog_daily_after_insert AFTER INSERT ON calllog
WHEN NOT EXISTS (SELECT 1 FROM calllog_rollup_paused)
BEGIN
    INSERT INTO calllog_rollup_change VALUES (
        1, NEW.provider, NEW.created_at, NEW.status, NEW.call_outcome, NEW.driver_status,
        NEW.emergency_type, NEW.duration_secs, NEW.sentiment, NEW.interruptions_est,
        NEW.tokens_estimated, NEW.e2e_latency_ms, NEW.keyword_hits, NEW.call_type
    );
END;

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
