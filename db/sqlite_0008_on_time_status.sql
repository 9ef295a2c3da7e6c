-- The agent's on-time judgement (structured.on_time_status: 'On Time', 'At Risk', 'Late', see
-- agent/vocabulary.py OnTimeStatus) as a column computed from `structured`, so no writer has
-- to copy it, and an index for the dashboard's counts and the filter.
ALTER TABLE calllog ADD COLUMN on_time_status TEXT
    GENERATED ALWAYS AS (json_extract(structured, '$.on_time_status')) VIRTUAL;
CREATE INDEX calllog_on_time_status_idx ON calllog (on_time_status, created_at);
