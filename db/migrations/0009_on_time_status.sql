-- The agent's on-time judgement (structured.on_time_status: 'On Time', 'At Risk', 'Late', see
-- agent/vocabulary.py OnTimeStatus) as a column that follows `structured` by itself, so no
-- writer has to copy it, and an index for the dashboard's counts and the filter.
alter table calllog add column if not exists on_time_status text
    generated always as (structured ->> 'on_time_status') stored;
create index if not exists calllog_on_time_status on calllog (on_time_status, created_at desc);
