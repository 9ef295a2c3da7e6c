-- Per-day figures are days in the office's time zone (DISPATCH_TIMEZONE), not UTC days: the
-- daily rollups are keyed on a call's day in the zone named in calllog_rollup_zone, whose UTC
-- offsets over time are the rows of calllog_rollup_offsets (SQLite has no time-zone database;
-- db/office_days.py writes them). The Store keeps that zone equal to DISPATCH_TIMEZONE: when
-- they differ, `migrate` (run at every start and by `python -m db migrate`) re-keys the rollups
-- from the calls in one transaction, and until then figures scan the calls instead of reading
-- rollups keyed to another zone. The zone starts as UTC, the days the rollups already hold,
-- so the stored rows stay as they are. PostgreSQL does the same in
-- migrations/0016_office_days.sql.
CREATE TABLE calllog_rollup_zone (zone TEXT NOT NULL);
INSERT INTO calllog_rollup_zone (zone) VALUES ('UTC');

CREATE TABLE calllog_rollup_offsets (
    starts_at   TEXT PRIMARY KEY,  -- UTC instant as calllog.created_at; '' is "always before"
    offset_secs INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO calllog_rollup_offsets (starts_at, offset_secs) VALUES ('', 0);

-- The rollup work of sqlite_0016_no_duration_bucket.sql, keyed on the call's day in that zone
-- (the triggers on calllog that feed it stay as they are).
DROP TRIGGER calllog_rollup_change_apply;

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
