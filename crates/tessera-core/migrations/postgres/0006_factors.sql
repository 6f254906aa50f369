-- Second factors (SPEC §11). A TOTP factor keeps its secret (sealed under
-- the master key when one is set) and the last time step it accepted, so a
-- code works once; a passkey keeps its credential. A factor is usable once
-- confirmed; an unconfirmed one lapses at expires_at.
CREATE TABLE factors (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    secret        BYTEA,
    sealed        BOOLEAN NOT NULL DEFAULT FALSE,
    credential_id BYTEA UNIQUE,
    credential    TEXT,
    last_step     BIGINT,
    confirmed_at  BIGINT,
    expires_at    BIGINT,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX factors_user_id ON factors (user_id);

-- Recovery codes: only their hashes, each usable once.
CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- Short-lived single-use tokens of a sign-in in progress (the mfa_token
-- after a correct password, the enrollment_token) and WebAuthn ceremonies:
-- kept in the database so any replica can finish what another began.
CREATE TABLE mfa_challenges (
    token_hash BYTEA PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    state      TEXT,
    failures   BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    spent_at   BIGINT
);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- How each sign-in was made (RFC 8176 amr, space-separated; NULL: a password).
ALTER TABLE sessions ADD COLUMN amr TEXT;
ALTER TABLE browser_sessions ADD COLUMN amr TEXT;
ALTER TABLE authorization_codes ADD COLUMN amr TEXT;
