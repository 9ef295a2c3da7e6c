-- The embedded SQLite schema: the same tables and columns as db/migrations/*.sql (PostgreSQL).
-- Timestamps are UTC text 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (fixed width, so they sort and compare
-- as text); json columns hold JSON text. Small columns come first and the large JSON ones last,
-- so aggregates over the scalar columns never read a transcript's overflow pages.

CREATE TABLE drivers (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(trim(name)) > 0),
    phone       TEXT,
    created_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX drivers_phone_key ON drivers (phone) WHERE phone IS NOT NULL;
-- Drivers known only by name (no phone) are identified by that name.
CREATE UNIQUE INDEX drivers_name_without_phone_key ON drivers (name) WHERE phone IS NULL;
CREATE INDEX drivers_name_idx ON drivers (name COLLATE NOCASE);

CREATE TABLE agents (
    id           INTEGER PRIMARY KEY,
    provider     TEXT NOT NULL CHECK (provider IN ('retell', 'pipecat')),
    name         TEXT NOT NULL CHECK (length(trim(name)) > 0),
    external_id  TEXT,
    created_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX agents_external_id_key ON agents (provider, external_id)
    WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX agents_name_without_external_id_key ON agents (provider, name)
    WHERE external_id IS NULL;

CREATE TABLE calllog (
    id                    INTEGER PRIMARY KEY,
    provider              TEXT NOT NULL CHECK (provider IN ('retell', 'pipecat')),
    provider_call_id      TEXT NOT NULL CHECK (length(provider_call_id) > 0),
    driver_id             INTEGER REFERENCES drivers (id),
    agent_id              INTEGER REFERENCES agents (id),
    status                TEXT NOT NULL DEFAULT 'registered'
                          CHECK (status IN ('registered', 'ongoing', 'ended', 'error')),
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    started_at            TEXT,
    ended_at              TEXT,
    duration_secs         REAL,
    interruptions_est     INTEGER,
    tokens_estimated      INTEGER,
    sentiment             REAL,
    cost                  REAL,
    call_outcome          TEXT,
    driver_status         TEXT,
    emergency_type        TEXT,
    load_number           TEXT,
    scenario              TEXT,
    call_type             TEXT,
    origin                TEXT,
    destination           TEXT,
    appointment           TEXT,
    from_number           TEXT,
    to_number             TEXT,
    recording_url         TEXT,
    disconnection_reason  TEXT,
    error                 TEXT,
    keyword_hits          TEXT CHECK (keyword_hits IS NULL OR json_valid(keyword_hits)),
    latency               TEXT CHECK (latency IS NULL OR json_valid(latency)),
    metadata              TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
    call_analysis         TEXT CHECK (call_analysis IS NULL OR json_valid(call_analysis)),
    structured            TEXT CHECK (structured IS NULL OR json_valid(structured)),
    transcript            TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(transcript)),
    UNIQUE (provider, provider_call_id)
);
-- One index per filter the UI offers; created_at second so a filtered page is read in order.
CREATE INDEX calllog_created_at_idx ON calllog (created_at);
CREATE INDEX calllog_provider_created_at_idx ON calllog (provider, created_at);
CREATE INDEX calllog_status_idx ON calllog (status, created_at);
CREATE INDEX calllog_call_outcome_idx ON calllog (call_outcome, created_at);
CREATE INDEX calllog_driver_status_idx ON calllog (driver_status, created_at);
CREATE INDEX calllog_emergency_type_idx ON calllog (emergency_type, created_at);
CREATE INDEX calllog_driver_id_idx ON calllog (driver_id, created_at);
CREATE INDEX calllog_agent_id_idx ON calllog (agent_id);
CREATE INDEX calllog_load_number_idx ON calllog (load_number, created_at);
CREATE INDEX calllog_duration_idx ON calllog (duration_secs);

-- Full text over what was said: the spoken contents of the transcript turns, one document per call.
CREATE VIEW calllog_transcript_text (id, transcript_text) AS
    SELECT id, (SELECT group_concat(json_extract(turn.value, '$.content'), ' ')
                FROM json_each(calllog.transcript) AS turn)
    FROM calllog;

CREATE VIRTUAL TABLE calllog_fts USING fts5 (
    transcript_text,
    content = 'calllog_transcript_text',
    content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER calllog_fts_after_insert AFTER INSERT ON calllog BEGIN
    INSERT INTO calllog_fts (rowid, transcript_text)
    SELECT new.id, group_concat(json_extract(turn.value, '$.content'), ' ')
    FROM json_each(new.transcript) AS turn;
END;

CREATE TRIGGER calllog_fts_after_update AFTER UPDATE OF transcript ON calllog
WHEN old.transcript IS NOT new.transcript BEGIN
    INSERT INTO calllog_fts (calllog_fts, rowid, transcript_text)
    SELECT 'delete', old.id, group_concat(json_extract(turn.value, '$.content'), ' ')
    FROM json_each(old.transcript) AS turn;
    INSERT INTO calllog_fts (rowid, transcript_text)
    SELECT new.id, group_concat(json_extract(turn.value, '$.content'), ' ')
    FROM json_each(new.transcript) AS turn;
END;

CREATE TRIGGER calllog_fts_after_delete AFTER DELETE ON calllog BEGIN
    INSERT INTO calllog_fts (calllog_fts, rowid, transcript_text)
    SELECT 'delete', old.id, group_concat(json_extract(turn.value, '$.content'), ' ')
    FROM json_each(old.transcript) AS turn;
END;

CREATE TABLE call_events (
    id                INTEGER PRIMARY KEY,
    provider          TEXT NOT NULL CHECK (provider IN ('retell', 'pipecat')),
    provider_call_id  TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    idempotency_key   TEXT NOT NULL UNIQUE,
    payload           TEXT NOT NULL CHECK (json_valid(payload)),
    received_at       TEXT NOT NULL
);
CREATE INDEX call_events_call_idx ON call_events (provider, provider_call_id, received_at);
