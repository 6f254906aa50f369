-- Email (SPEC §12): whether the address was proven by a link, and the
-- links themselves.
--
-- An address counts as verified on one account at most (case-insensitive).
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
-- Accounts an operator created (command line, bootstrap admin) sign in
-- without a verified address even under TESSERA_REQUIRE_VERIFIED_EMAIL.
ALTER TABLE users ADD COLUMN email_exempt BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX users_verified_email ON users (lower(email)) WHERE email_verified;
CREATE INDEX users_email ON users (lower(email));

-- Links sent by mail: only the hash of their token, single use. A link
-- verifies (kind 'verify') or resets with (kind 'reset') the address it
-- was sent to.
CREATE TABLE email_links (
    token_hash BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    email      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX email_links_user_kind ON email_links (user_id, kind);
CREATE INDEX email_links_expires_at ON email_links (expires_at);
