#!/usr/bin/env python3
"""WAL pages a refresh-token rotation writes on SQLite, for the layout the
server uses and for three layouts with every refresh token in one table.

SQLite alone, through Python's sqlite3 (no server): each layout's tables
as the server would keep them (4 KiB pages, WAL, the sessions' indexes),
SESSIONS sessions rotated once already, then 10,800 rotations of random
sessions among the first ROTATING (all by default) in groups of 27 a
transaction, as the server's writer runs them
under load, with no checkpoint meanwhile. Prints the WAL frames (pages)
and kilobytes written per rotation. The audit entry each rotation appends
is included. BENCHMARKS.md, "A group of rotations without a statement
journal", says what the figures mean.

    python3 bench/refresh-layouts.py [SESSIONS [ROTATING]]      (2000, all)

The kit's refresh load rotates 72 sessions among the few thousand its
earlier loads left (`bench/refresh-tail.sh` EXTRA=2000: 72 among 2,072).

The layouts:
  today                 sessions name their current token through a unique
                        index; spent tokens in a table of their own
  session names token   every token in one table keyed by its hash; the
                        session's row names its current one (no index)
  tokens+session        one table of tokens, each marked spent in place;
                        the session's row keeps its times
  tokens only           as above, the idle expiry kept on the token's row
"""
import os, random, sqlite3, sys, tempfile

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000  # sessions
HOT = int(sys.argv[2]) if len(sys.argv) > 2 else N  # of which rotate
GROUP = 27  # rotations a transaction, the writer's mean group under load
ROT = GROUP * 400  # rotations measured
rnd = random.Random(7)  # the same tokens and choices every run


def h():
    """A token's hash (32 random bytes)."""
    return rnd.randbytes(32)


def sealed():
    """A sealed successor, as the grace window keeps it."""
    return rnd.randbytes(80)


# The audit log as the server keeps it (migrations 0001 and 0005).
AUDIT = """CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at BIGINT NOT NULL,
    event TEXT NOT NULL, actor TEXT, subject TEXT, ip TEXT, user_agent TEXT, outcome TEXT NOT NULL, detail TEXT);
  CREATE INDEX audit_log_at ON audit_log (at);
  CREATE INDEX audit_log_event_at ON audit_log (event, at);"""

# The sessions' indexes a rotation does not change (migrations 0001, 0004
# and 0009).
SESSION_INDEXES = """CREATE INDEX sessions_user_id ON sessions (user_id);
  CREATE INDEX sessions_client_id ON sessions (client_id);
  CREATE INDEX sessions_browser_session_id ON sessions (browser_session_id);
  CREATE INDEX sessions_created_at ON sessions (created_at);"""

SCHEMAS = {
 "today": """
  CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, refresh_hash BLOB NOT NULL UNIQUE,
    prev_refresh_hash BLOB, grace_sealed BLOB, rotated_at BIGINT, created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, max_expires_at BIGINT NOT NULL,
    revoked_at BIGINT, user_agent TEXT, ip TEXT, client_id TEXT, browser_session_id TEXT, scope TEXT);
  {SESSION_INDEXES}
  CREATE TABLE spent_refresh_tokens (token_hash BLOB PRIMARY KEY, session_id TEXT NOT NULL, spent_at BIGINT NOT NULL);
  CREATE INDEX spent_refresh_tokens_spent_at ON spent_refresh_tokens (spent_at);
  {AUDIT}
 """,
 # one table of tokens; the session row keeps its times (3 random pages)
 "tokens+session": """
  CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, rotated_at BIGINT, created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, max_expires_at BIGINT NOT NULL,
    revoked_at BIGINT, user_agent TEXT, ip TEXT, client_id TEXT, browser_session_id TEXT, scope TEXT);
  {SESSION_INDEXES}
  CREATE TABLE refresh_tokens (token_hash BLOB PRIMARY KEY, session_id TEXT NOT NULL, issued_at BIGINT NOT NULL,
    spent_at BIGINT, successor_sealed BLOB) WITHOUT ROWID;
  CREATE INDEX refresh_tokens_issued_at ON refresh_tokens (issued_at);
  {AUDIT}
 """,
 # every token in one table keyed by its hash; the session names its current one
 "session names token": """
  CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, refresh_hash BLOB NOT NULL,
    prev_refresh_hash BLOB, grace_sealed BLOB, rotated_at BIGINT, created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, max_expires_at BIGINT NOT NULL,
    revoked_at BIGINT, user_agent TEXT, ip TEXT, client_id TEXT, browser_session_id TEXT, scope TEXT);
  {SESSION_INDEXES}
  CREATE TABLE refresh_tokens (token_hash BLOB PRIMARY KEY, session_id TEXT NOT NULL, issued_at BIGINT NOT NULL) WITHOUT ROWID;
  CREATE INDEX refresh_tokens_issued_at ON refresh_tokens (issued_at);
  {AUDIT}
 """,
 # one table of tokens that also carries the session's idle expiry (2 random pages)
 "tokens only": """
  CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at BIGINT NOT NULL,
    max_expires_at BIGINT NOT NULL, revoked_at BIGINT, user_agent TEXT, ip TEXT, client_id TEXT, browser_session_id TEXT, scope TEXT);
  {SESSION_INDEXES}
  CREATE TABLE refresh_tokens (token_hash BLOB PRIMARY KEY, session_id TEXT NOT NULL, issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL, spent_at BIGINT, successor_sealed BLOB) WITHOUT ROWID;
  CREATE INDEX refresh_tokens_issued_at ON refresh_tokens (issued_at);
  {AUDIT}
 """,
}

def run(name):
    path = os.path.join(WORK, name.replace(" ", "_").replace("+", "_") + ".db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    schema = SCHEMAS[name].replace("{AUDIT}", AUDIT)
    db.executescript(schema.replace("{SESSION_INDEXES}", SESSION_INDEXES))
    now = 1_800_000_000_000
    cur = {}
    db.execute("BEGIN")
    for i in range(N):
        sid = "%08x-%04x-%04x-%04x-%012x" % tuple(rnd.getrandbits(b) for b in (32, 16, 16, 16, 48))
        uid = "%032x" % rnd.getrandbits(128)
        tok = h()
        cur[sid] = tok
        if name == "today":
            # each session rotated once already: a spent token and a sealed successor
            db.execute("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,NULL,'wrk','127.0.0.1',NULL,NULL,NULL)",
                       (sid, uid, tok, h(), sealed(), now, now, now, now + 86400000, now + 30*86400000))
            db.execute("INSERT INTO spent_refresh_tokens VALUES (?,?,?)", (h(), sid, now))
        elif name == "session names token":
            db.execute("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,NULL,'wrk','127.0.0.1',NULL,NULL,NULL)",
                       (sid, uid, tok, h(), sealed(), now, now, now, now + 86400000, now + 30*86400000))
            db.execute("INSERT INTO refresh_tokens VALUES (?,?,?)", (h(), sid, now))
            db.execute("INSERT INTO refresh_tokens VALUES (?,?,?)", (tok, sid, now))
        elif name == "tokens+session":
            db.execute("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,NULL,'wrk','127.0.0.1',NULL,NULL,NULL)",
                       (sid, uid, now, now, now, now + 86400000, now + 30*86400000))
            db.execute("INSERT INTO refresh_tokens VALUES (?,?,?,?,?)", (h(), sid, now, now, sealed()))
            db.execute("INSERT INTO refresh_tokens VALUES (?,?,?,NULL,NULL)", (tok, sid, now))
        else:
            db.execute("INSERT INTO sessions VALUES (?,?,?,?,NULL,'wrk','127.0.0.1',NULL,NULL,NULL)",
                       (sid, uid, now, now + 30*86400000))
            db.execute("INSERT INTO refresh_tokens VALUES (?,?,?,?,?,?)", (h(), sid, now, now + 86400000, now, sealed()))
            db.execute("INSERT INTO refresh_tokens VALUES (?,?,?,?,NULL,NULL)", (tok, sid, now, now + 86400000))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sids = list(cur)[:HOT]
    for g in range(ROT // GROUP):
        db.execute("BEGIN IMMEDIATE")
        for _ in range(GROUP):
            sid = rnd.choice(sids); old = cur[sid]; new = h(); now += 1
            if name == "today":
                db.execute("""UPDATE sessions SET prev_refresh_hash = refresh_hash, refresh_hash = ?, grace_sealed = ?,
                  rotated_at = ?, last_used_at = ?, expires_at = ? WHERE refresh_hash = ? AND revoked_at IS NULL""",
                  (new, sealed(), now, now, now + 86400000, old))
                db.execute("INSERT INTO spent_refresh_tokens VALUES (?,?,?)", (old, sid, now))
            elif name == "session names token":
                row = db.execute("SELECT session_id FROM refresh_tokens WHERE token_hash = ?", (old,)).fetchone()
                db.execute("""UPDATE sessions SET prev_refresh_hash = refresh_hash, refresh_hash = ?, grace_sealed = ?,
                  rotated_at = ?, last_used_at = ?, expires_at = ? WHERE id = ? AND refresh_hash = ? AND revoked_at IS NULL""",
                  (new, sealed(), now, now, now + 86400000, row[0], old))
                db.execute("INSERT INTO refresh_tokens VALUES (?,?,?)", (new, sid, now))
            elif name == "tokens+session":
                db.execute("UPDATE refresh_tokens SET spent_at = ?, successor_sealed = ? WHERE token_hash = ? AND spent_at IS NULL",
                           (now, sealed(), old))
                db.execute("UPDATE sessions SET rotated_at = ?, last_used_at = ?, expires_at = ? WHERE id = ?",
                           (now, now, now + 86400000, sid))
                db.execute("INSERT INTO refresh_tokens VALUES (?,?,?,NULL,NULL)", (new, sid, now))
            else:
                db.execute("UPDATE refresh_tokens SET spent_at = ?, successor_sealed = ? WHERE token_hash = ? AND spent_at IS NULL",
                           (now, sealed(), old))
                db.execute("INSERT INTO refresh_tokens VALUES (?,?,?,?,NULL,NULL)", (new, sid, now, now + 86400000))
            db.execute("INSERT INTO audit_log (at, event, actor, subject, ip, user_agent, outcome) VALUES (?,?,?,?,?,?,?)",
                       (now, "refresh", sid, sid, "127.0.0.1", "wrk", "success"))
            cur[sid] = new
        db.execute("COMMIT")
    wal = os.path.getsize(path + "-wal")
    frames = (wal - 32) / (4096 + 24)
    print(f"{name:20} {N:6} sessions, {HOT:6} rotating  {frames / ROT:5.2f} WAL pages  {wal / ROT / 1000:5.1f} KB per rotation")
    db.close()

with tempfile.TemporaryDirectory() as WORK:
    for name in SCHEMAS:
        run(name)
