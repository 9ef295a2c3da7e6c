-- The embedded schema catches up with PostgreSQL's (db/migrations/0001_schema.sql):
-- - durations, interruption and token counts are never negative (PostgreSQL's check
--   constraints; SQLite cannot add a CHECK to an existing table, so triggers refuse the write);
--   a negative value stored before is unknown, as PostgreSQL would have had it;
-- - the latency median column has PostgreSQL's name, e2e_latency_ms (renaming rewrites the
--   rollup triggers and the covering index that read it).
UPDATE calllog SET duration_secs = NULL WHERE duration_secs < 0;
UPDATE calllog SET interruptions_est = NULL WHERE interruptions_est < 0;
UPDATE calllog SET tokens_estimated = NULL WHERE tokens_estimated < 0;

CREATE TRIGGER calllog_no_negative_counts_insert BEFORE INSERT ON calllog
WHEN NEW.duration_secs < 0 OR NEW.interruptions_est < 0 OR NEW.tokens_estimated < 0
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: calllog counts and durations are >= 0');
END;

CREATE TRIGGER calllog_no_negative_counts_update
BEFORE UPDATE OF duration_secs, interruptions_est, tokens_estimated ON calllog
WHEN NEW.duration_secs < 0 OR NEW.interruptions_est < 0 OR NEW.tokens_estimated < 0
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: calllog counts and durations are >= 0');
END;

ALTER TABLE calllog RENAME COLUMN latency_e2e_p50_ms TO e2e_latency_ms;
