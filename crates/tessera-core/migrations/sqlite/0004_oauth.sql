-- OAuth 2.0 / OpenID Connect: registered clients, the browser's single
-- sign-on sessions, authorization codes, what an OAuth grant adds to a token
-- session, and a second key family that signs ID tokens.

CREATE TABLE oauth_clients (
    client_id                 TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    -- SHA-256 of the 256-bit secret; NULL for a public client.
    secret_hash               BLOB,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grant_types               TEXT NOT NULL,
    scopes                    TEXT NOT NULL,
    id_token_alg              TEXT,
    created_at                BIGINT NOT NULL
);

-- A browser signed in at the hosted login page (the SSO session behind the
-- cookie). `token_hash` is the SHA-256 of the cookie's value.
CREATE TABLE browser_sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    auth_time  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX browser_sessions_user_id ON browser_sessions (user_id);

-- Single-use codes of the authorization-code flow. `session_id` is the
-- token session the redemption created, revoked if the code is used again.
CREATE TABLE authorization_codes (
    code_hash          BLOB PRIMARY KEY,
    client_id          TEXT NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    browser_session_id TEXT,
    redirect_uri       TEXT NOT NULL,
    code_challenge     TEXT NOT NULL,
    scope              TEXT NOT NULL,
    nonce              TEXT,
    auth_time          BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    used_at            BIGINT,
    session_id         TEXT
);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

ALTER TABLE sessions ADD COLUMN client_id TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT;
ALTER TABLE sessions ADD COLUMN browser_session_id TEXT;
ALTER TABLE sessions ADD COLUMN auth_time BIGINT;
CREATE INDEX sessions_client_id ON sessions (client_id);
CREATE INDEX sessions_browser_session_id ON sessions (browser_session_id);

-- Keys now come in families (`access` signs access tokens, `id` signs ID
-- tokens), each with its own generations.
CREATE TABLE signing_keys_v2 (
    kid          TEXT PRIMARY KEY,
    purpose      TEXT NOT NULL,
    generation   BIGINT NOT NULL,
    alg          TEXT NOT NULL,
    private_der  BLOB NOT NULL,
    encrypted    BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    UNIQUE (purpose, generation)
);
INSERT INTO signing_keys_v2 (kid, purpose, generation, alg, private_der, encrypted, created_at, activates_at)
    SELECT kid, 'access', generation, alg, private_der, encrypted, created_at, activates_at FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_v2 RENAME TO signing_keys;
