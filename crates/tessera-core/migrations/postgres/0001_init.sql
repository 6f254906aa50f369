-- Tessera schema (PostgreSQL). Times are epoch milliseconds (BIGINT) and ids
-- are text so that both backends share their SQL.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL,
    username_lower TEXT COLLATE "C" NOT NULL UNIQUE,
    email          TEXT,
    first_name     TEXT,
    last_name      TEXT,
    phone          TEXT,
    roles          TEXT NOT NULL,
    is_admin       BOOLEAN NOT NULL,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_hash      BYTEA NOT NULL UNIQUE,
    prev_refresh_hash BYTEA,
    grace_sealed      BYTEA,
    rotated_at        BIGINT,
    created_at        BIGINT NOT NULL,
    last_used_at      BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    max_expires_at    BIGINT NOT NULL,
    revoked_at        BIGINT,
    user_agent        TEXT,
    ip                TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE spent_refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    spent_at   BIGINT NOT NULL
);
CREATE INDEX spent_refresh_tokens_session_id ON spent_refresh_tokens (session_id);

CREATE TABLE revocations (
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    generation   BIGINT NOT NULL UNIQUE,
    alg          TEXT NOT NULL,
    private_der  BYTEA NOT NULL,
    encrypted    BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    event      TEXT NOT NULL,
    actor      TEXT,
    subject    TEXT,
    ip         TEXT,
    user_agent TEXT,
    outcome    TEXT NOT NULL,
    detail     TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
