-- Spent refresh tokens are found by their hash and forgotten by their age,
-- no longer through their session. The index on their session took a page
-- of its own at every rotation (each session's tokens lie together, and
-- sessions refresh in any order): a third of what a rotation wrote. Without
-- the foreign key, a deleted session's spent tokens stay behind, unreachable
-- (a lookup joins the session), until the purge forgets every token spent
-- before the oldest remaining session began. SQLite drops a foreign key
-- only by rebuilding its table.
CREATE TABLE spent_refresh_tokens_by_time (
    token_hash BLOB PRIMARY KEY,
    session_id TEXT NOT NULL,
    spent_at   BIGINT NOT NULL
);
INSERT INTO spent_refresh_tokens_by_time (token_hash, session_id, spent_at)
    SELECT token_hash, session_id, spent_at FROM spent_refresh_tokens;
DROP TABLE spent_refresh_tokens;
ALTER TABLE spent_refresh_tokens_by_time RENAME TO spent_refresh_tokens;
CREATE INDEX spent_refresh_tokens_spent_at ON spent_refresh_tokens (spent_at);
CREATE INDEX sessions_created_at ON sessions (created_at);
