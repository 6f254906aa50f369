-- Addresses compared ignoring case the same way on both databases: folded
-- by Tessera (full Unicode lower case) into email_lower, rather than by the
-- database's lower(), which on SQLite folds ASCII letters only.
ALTER TABLE users ADD COLUMN email_lower TEXT;
UPDATE users SET email_lower = lower(email) WHERE email IS NOT NULL;
DROP INDEX users_verified_email;
DROP INDEX users_email;
CREATE UNIQUE INDEX users_verified_email ON users (email_lower) WHERE email_verified;
CREATE INDEX users_email ON users (email_lower);
