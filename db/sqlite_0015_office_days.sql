-- Per-day figures are days in the office's time zone (DISPATCH_TIMEZONE), not UTC days: the
-- daily rollups (their triggers in sqlite_definitions.sql) are keyed on a call's day in the
-- zone named in calllog_rollup_zone, whose UTC offsets over time are the rows of
-- calllog_rollup_offsets (SQLite has no time-zone database; db/office_days.py writes them). The
-- Store keeps that zone equal to DISPATCH_TIMEZONE: when they differ, `migrate` (run at every
-- start and by `python -m db migrate`) re-keys the rollups from the calls in one transaction,
-- and until then figures scan the calls instead of reading rollups keyed to another zone. The
-- zone starts as UTC, the days the rollups already hold, so the stored rows stay as they are.
-- PostgreSQL does the same in migrations/0016_office_days.sql.
CREATE TABLE calllog_rollup_zone (zone TEXT NOT NULL);
INSERT INTO calllog_rollup_zone (zone) VALUES ('UTC');

CREATE TABLE calllog_rollup_offsets (
    starts_at   TEXT PRIMARY KEY,  -- UTC instant as calllog.created_at; '' is "always before"
    offset_secs INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO calllog_rollup_offsets (starts_at, offset_secs) VALUES ('', 0);
