-- Emergencies (the SQLite twin of db/migrations/0006_emergencies.sql): the honest escalation
-- status, a provider's word on a transfer never downgraded, and acknowledged alerts with their
-- audit trail. Timestamps are UTC text like every other column here.

UPDATE calllog
SET structured = json_set(structured, '$.escalation_status', 'Transfer Requested')
WHERE json_extract(structured, '$.escalation_status') = 'Connected to Human Dispatcher';

-- agent.vocabulary.EscalationStatus.rank, as a table the trigger reads.
CREATE TABLE escalation_rank (status TEXT PRIMARY KEY, rank INTEGER NOT NULL);
INSERT INTO escalation_rank VALUES
    ('Transfer Connected', 3), ('Transfer Failed', 2),
    ('Transfer Requested', 1), ('Callback Requested', 1);

-- SQLite cannot change NEW in a trigger: put the higher-ranked status back right after.
-- (recursive_triggers is off, so this UPDATE does not fire the trigger again.)
CREATE TRIGGER calllog_keep_escalation_status AFTER UPDATE OF structured ON calllog
WHEN old.structured IS NOT NULL AND new.structured IS NOT NULL
 AND coalesce((SELECT rank FROM escalation_rank
               WHERE status = json_extract(old.structured, '$.escalation_status')), 0)
   > coalesce((SELECT rank FROM escalation_rank
               WHERE status = json_extract(new.structured, '$.escalation_status')), 0)
BEGIN
    UPDATE calllog
    SET structured = json_set(structured, '$.escalation_status',
                              json_extract(old.structured, '$.escalation_status'))
    WHERE id = new.id;
END;

CREATE TABLE emergency_alerts (
    id                INTEGER PRIMARY KEY,
    provider          TEXT NOT NULL CHECK (provider IN ('retell', 'pipecat')),
    provider_call_id  TEXT NOT NULL CHECK (length(provider_call_id) > 0),
    raised_at         TEXT NOT NULL,
    acknowledged_at   TEXT,
    acknowledged_by   TEXT CHECK (acknowledged_by IS NULL OR length(trim(acknowledged_by)) > 0),
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
    UNIQUE (provider, provider_call_id)
);
CREATE INDEX emergency_alerts_open_idx ON emergency_alerts (raised_at)
    WHERE acknowledged_at IS NULL;

CREATE TABLE emergency_alert_log (
    id        INTEGER PRIMARY KEY,
    alert_id  INTEGER NOT NULL REFERENCES emergency_alerts (id),
    action    TEXT NOT NULL CHECK (action IN ('raised', 'acknowledged')),
    actor     TEXT,
    at        TEXT NOT NULL
);
CREATE INDEX emergency_alert_log_alert_idx ON emergency_alert_log (alert_id, at);
