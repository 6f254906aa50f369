-- Login throttling and rate limits, shared by every replica on the database.
-- `hits` counts failures (or requests, for rate limits) in the current window;
-- `blocked_until` is when the key may try again (rate limits: when the window ends).
CREATE TABLE throttle (
    key           TEXT PRIMARY KEY,
    hits          BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
