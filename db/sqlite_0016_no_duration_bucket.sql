-- A call without a duration is counted in calllog_daily's duration_bucket -1, as on PostgreSQL
-- (migrations/0004_daily_rollup.sql); SQLite used -2^63. Durations are never negative
-- (sqlite_0004_one_schema.sql), so -1 is no minute's bucket and the renamed rows meet no other.
-- The triggers (sqlite_definitions.sql) write -1; this renames the rows older triggers wrote.
UPDATE calllog_daily SET duration_bucket = -1 WHERE duration_bucket = -9223372036854775808;
