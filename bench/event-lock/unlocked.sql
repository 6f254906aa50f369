-- The same transaction without the event log's lock: what group commit
-- allows when transactions do not take turns.
BEGIN;
INSERT INTO events (at, type, sub, admin_only, payload)
  VALUES (0, 'session.revoked', 'bench', false, '{"sid":"bench"}');
SELECT pg_notify('tessera_events', '{"s":[1]}');
COMMIT;
