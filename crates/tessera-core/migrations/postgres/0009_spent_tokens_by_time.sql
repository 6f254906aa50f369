-- Spent refresh tokens are found by their hash and forgotten by their age,
-- no longer through their session. The index on their session took a page
-- of its own at every rotation (each session's tokens lie together, and
-- sessions refresh in any order): a third of what a rotation wrote. Without
-- the foreign key, a deleted session's spent tokens stay behind, unreachable
-- (a lookup joins the session), until the purge forgets every token spent
-- before the oldest remaining session began.
ALTER TABLE spent_refresh_tokens DROP CONSTRAINT spent_refresh_tokens_session_id_fkey;
DROP INDEX spent_refresh_tokens_session_id;
CREATE INDEX spent_refresh_tokens_spent_at ON spent_refresh_tokens (spent_at);
CREATE INDEX sessions_created_at ON sessions (created_at);
