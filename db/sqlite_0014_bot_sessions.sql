-- Bot sessions the voice server registers (POST /dispatch/sessions on any bot process): the
-- call a one-time token joins, until it expires. In the database, not one bot's memory, so any
-- bot process resolves any token; joining sets joined_at in one UPDATE, so a token is spent
-- once however many processes race for it. PostgreSQL: migrations/0015_bot_sessions.sql.
CREATE TABLE bot_sessions (
    token            TEXT PRIMARY KEY,
    provider_call_id TEXT NOT NULL,
    transport        TEXT NOT NULL CHECK (transport IN ('webrtc', 'twilio')),
    context          TEXT NOT NULL DEFAULT '{}',
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    joined_at        TEXT,
    joined_by        TEXT
);
CREATE INDEX bot_sessions_by_call ON bot_sessions (provider_call_id, expires_at);
CREATE INDEX bot_sessions_by_expiry ON bot_sessions (expires_at);
