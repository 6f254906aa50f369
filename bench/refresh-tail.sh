#!/usr/bin/env bash
# The refresh tail on SQLite, before and after: two tessera binaries (A and
# B), in turn (A B A B …), each under POST /auth/refresh from 64 connections
# for DURATION seconds on a fresh database (64 users, 72 sessions), as
# bench/run.sh loads it. Prints, per load: req/s, latency percentiles (ms),
# the server's CPU per refresh (and of it, the `sqlite-writer` thread's),
# the bytes it wrote to storage per refresh (`write_bytes` of
# /proc/<pid>/io: the WAL and the checkpoints' copies),
# its thread switches per refresh, and how long the checkpointer held the
# writer in each round that took the WAL to its end (mean and maximum in
# ms, and how many such rounds, from the server's debug event; "-" for a
# build without it).
#
#   bench/refresh-tail.sh NEW_BINARY OLD_BINARY        (ROUNDS=3 DURATION=10)
#
# EXTRA=N adds N sessions of the bench users, each rotated once (a spent
# token, a current one and the sealed successor, as the server stores
# them), to the database before the 72 that rotate, so that their pages
# lie among many others, as in the kit's refresh load, which runs on the
# database its earlier loads filled. PAGE_SIZE=N creates the database with
# pages of N bytes instead of SQLite's 4,096; the checkpointer's thresholds
# count pages, so smaller pages also mean more frequent checkpoints.
#
# Each database is seeded by the `seed` tool beside its binary (so each
# build's own migrations), or target/release/seed. Needs wrk, curl and
# python3; the CPUs are set as bench/ab-lib.sh says. DB_DIR (default: a
# temporary directory) holds the database: /dev/shm gives the floor
# without the disk.
set -euo pipefail
source "$(dirname "$0")/ab-lib.sh" "$@"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
EXTRA=${EXTRA:-0}
PAGE_SIZE=${PAGE_SIZE:-}
cat "$ROOT/bench/wrk/refresh.lua" "$ROOT/bench/wrk/percentiles.lua" >"$WORK/refresh.lua"

switches() { cat /proc/"$SERVER"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n}'; }
# The CPU ticks of the thread that runs SQLite's writer connection.
writer_ticks() {
  local task
  for task in /proc/"$SERVER"/task/*; do
    if [ "$(cat "$task/comm")" = sqlite-writer ]; then awk '{print $14 + $15}' "$task/stat"; return; fi
  done
  echo 0
}
figures() { echo "$(awk '{print $14 + $15}' /proc/"$SERVER"/stat) $(awk '/^write_bytes/ {print $2}' /proc/"$SERVER"/io) $(switches) $(writer_ticks)"; }

# extra_sessions DB — EXTRA sessions of random bench users, begun in the
# last hour and each rotated once a minute later, with the columns a login
# and a refresh fill (a UUID as text, a 71-byte sealed successor).
extra_sessions() {
  python3 - "$1" "$EXTRA" <<'PY'
import os, random, sqlite3, sys, time, uuid
db = sqlite3.connect(sys.argv[1])
users = [r[0] for r in db.execute("SELECT id FROM users")]
now = int(time.time() * 1000)
for _ in range(int(sys.argv[2])):
    sid, spent, begun = str(uuid.uuid4()), os.urandom(32), now - random.randrange(60_000, 3_600_000)
    db.execute(
        "INSERT INTO sessions (id, user_id, refresh_hash, prev_refresh_hash, grace_sealed, rotated_at, "
        "created_at, last_used_at, expires_at, max_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (sid, random.choice(users), os.urandom(32), spent, os.urandom(71), begun + 60_000, begun,
         begun + 60_000, now + 86_400_000, now + 86_400_000))
    db.execute("INSERT INTO spent_refresh_tokens (token_hash, session_id, spent_at) VALUES (?, ?, ?)",
               (spent, sid, begun + 60_000))
db.commit()
PY
}

# load LABEL BINARY — one fresh database, server and load; one line.
load() {
  local seed db=$WORK/tessera.db
  seed=$(dirname "$2")/seed
  [ -x "$seed" ] || seed=$ROOT/target/release/seed
  rm -f "$db" "$db-wal" "$db-shm"
  if [ -n "$PAGE_SIZE" ]; then
    python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript(f"PRAGMA page_size = {int(sys.argv[2])}; PRAGMA journal_mode = WAL; CREATE TABLE t (a); DROP TABLE t;")
size = db.execute("PRAGMA page_size").fetchone()[0]
sys.exit(None if size == int(sys.argv[2]) else f"SQLite took pages of {size} bytes, not {sys.argv[2]}")' "$db" "$PAGE_SIZE"
  fi
  "$seed" --db "$db" --users 64 --password "$PASSWORD" >/dev/null 2>&1
  if [ "$EXTRA" -gt 0 ]; then extra_sessions "$db"; fi
  TESSERA_BIND=127.0.0.1:18760 TESSERA_ISSUER=http://tessera.bench.test TESSERA_DATABASE_URL=sqlite://$db \
    TESSERA_JWT_ALG=ES256 TESSERA_REGISTRATION_RATE=1000000/s \
    TESSERA_LOG=warn,tessera_core::store::sql::checkpoints=debug \
    taskset -c "$SERVER_CPU" "$2" serve >"$WORK/server.log" 2>&1 &
  SERVER=$!
  wait_ready http://127.0.0.1:18760
  refresh_tokens http://127.0.0.1:18760 "$WORK/refresh.tokens"
  local before after
  before=$(figures)
  REFRESH_TOKENS=$WORK/refresh.tokens WRK_REPORT=$WORK/report taskset -c "$LOAD_CPU" \
    wrk -t1 -c64 -d"${DURATION}s" --timeout 10s -s "$WORK/refresh.lua" http://127.0.0.1:18760/auth/refresh >/dev/null
  after=$(figures)
  halt
  local held
  held=$(grep -o 'held_us=[0-9]*' "$WORK/server.log" | cut -d= -f2 |
    awk '{s += $1; if ($1 > m) m = $1} END {if (NR) printf "%.1f/%.1f (%d rounds)", s / NR / 1000, m / 1000, NR; else printf "-"}')
  awk -v l="$1" -v d="$DURATION" -v hz="$(getconf CLK_TCK)" -v b="$before" -v a="$after" -v r="$(cat "$WORK/report")" -v h="$held" 'BEGIN {
    split(b, x, " "); split(a, y, " "); split(r, f, " "); n = f[1] * d
    printf "%-3s %6d req/s  p50 %5.1f  p90 %5.1f  p95 %5.1f  p99 %5.1f  p99.9 %5.1f  max %6.1f ms  %d errors  %4.0f µs CPU (writer %3.0f)  %5.1f KB written  %.2f switches per refresh  writer held %s\n",
      l, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], (y[1] - x[1]) / hz / n * 1e6, (y[4] - x[4]) / hz / n * 1e6, (y[2] - x[2]) / n / 1024, (y[3] - x[3]) / n, h }'
}

for _ in $(seq 1 "$ROUNDS"); do
  load A "$A"
  load B "$B"
done
