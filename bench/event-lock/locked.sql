-- One event-writing transaction as Tessera commits it on PostgreSQL: the
-- event log's lock, the event, the notification, the commit.
BEGIN;
SELECT pg_advisory_xact_lock(7465737302);
INSERT INTO events (at, type, sub, admin_only, payload)
  VALUES (0, 'session.revoked', 'bench', false, '{"sid":"bench"}');
SELECT pg_notify('tessera_events', '{"s":[1]}');
COMMIT;
