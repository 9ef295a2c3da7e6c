-- Metrics read two facts that live inside JSON: each call's keyword counts and its p50 latency.
-- Parsing that JSON for every call made the dashboards slow, so the store also keeps them as
-- plain columns, written with keyword_hits and latency (like call_outcome follows structured):
--   keyword_keys        sorted JSON array of the keywords counted (numeric values only)
--   keyword_nonzero     JSON object of the counts that are not zero, NULL when none
--   latency_e2e_p50_ms  latency["e2e_p50_ms"] when it is a number
ALTER TABLE calllog ADD COLUMN keyword_keys TEXT;
ALTER TABLE calllog ADD COLUMN keyword_nonzero TEXT;
ALTER TABLE calllog ADD COLUMN latency_e2e_p50_ms REAL;

UPDATE calllog SET
    keyword_keys = (
        SELECT json_group_array(key) FROM (
            SELECT hit.key FROM json_each(calllog.keyword_hits) AS hit
            WHERE hit.type IN ('integer', 'real') ORDER BY hit.key
        )
    ),
    keyword_nonzero = (
        SELECT nullif(json_group_object(hit.key, hit.value), '{}')
        FROM json_each(calllog.keyword_hits) AS hit
        WHERE hit.type IN ('integer', 'real') AND hit.value <> 0
    )
WHERE keyword_hits IS NOT NULL;

UPDATE calllog SET latency_e2e_p50_ms = json_extract(latency, '$.e2e_p50_ms')
WHERE json_type(latency, '$.e2e_p50_ms') IN ('integer', 'real');

-- Covers every column the metrics read, so a dashboard's aggregates never touch the table rows.
DROP INDEX calllog_provider_created_at_idx;
CREATE INDEX calllog_provider_created_at_idx ON calllog (
    provider, created_at, status, call_outcome, driver_status, emergency_type, duration_secs,
    sentiment, interruptions_est, tokens_estimated, latency_e2e_p50_ms, keyword_keys,
    keyword_nonzero
);
