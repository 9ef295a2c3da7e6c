-- Per-day figures are days in the office's time zone (DISPATCH_TIMEZONE, an IANA name), not
-- UTC days. The daily rollups are keyed on a call's date in the zone named in
-- calllog_rollup_zone; the Store keeps that zone equal to DISPATCH_TIMEZONE: when they differ,
-- its `migrate` (run at every start and by `python -m db migrate`) calls
-- dispatch_key_rollups_to, which rebuilds the rollups from the calls in one transaction. A
-- figure asked for days in another zone than the rollups' scans the calls instead, so days are
-- never silently another zone's. Figure filters carry the zone as `timezone`. The zone starts
-- as UTC, the days the rollups already hold, so the stored rows stay as they are. SQLite does
-- the same in sqlite_0015_office_days.sql.

create table if not exists calllog_rollup_zone (
    singleton boolean primary key default true check (singleton),
    zone      text not null
);
insert into calllog_rollup_zone (zone) values ('UTC') on conflict do nothing;

-- Row-level security as for the other tables (see 0003_rls.sql).
alter table calllog_rollup_zone enable row level security;
