-- The event stream behind GET /events: every revocation and account change,
-- written in the same transaction as the change, numbered across the
-- deployment by `seq`. Kept at least 24 hours for replay (`?since=`).
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         BIGINT NOT NULL,
    type       TEXT NOT NULL,
    sub        TEXT,
    admin_only BOOLEAN NOT NULL,
    payload    TEXT NOT NULL
);
CREATE INDEX events_at ON events (at);
