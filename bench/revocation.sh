#!/usr/bin/env bash
# Revocation propagation and idle subscribers, against release builds on
# 127.0.0.1. Everything started here is stopped on exit, and the scratch
# PostgreSQL database is dropped.
#
#   bench/revocation.sh
#
# 1. Two `tessera serve` processes (A and B) on one fresh PostgreSQL database
#    with a shared issuer; `propagation` logs a user in and out through A
#    COUNT times and times how long a tessera-verify Verifier following B's
#    /events stream takes to refuse the token after A's 204.
# 2. One fresh SQLite-backed process; `subscribers` opens SUBSCRIBERS idle
#    /events connections to it and reports the server's RSS before and after.
#
# Environment (all optional):
#   PGHOST=127.0.0.1 PGUSER=postgres  the PostgreSQL server (needs createdb rights)
#   PORT_A=18711 PORT_B=18712 PORT_S=18713
#   COUNT=1000 SUBSCRIBERS=10000
#   SKIP_BUILD=1                      use the release binaries already in target/
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
export PGHOST PGUSER
PORT_A=${PORT_A:-18711}
PORT_B=${PORT_B:-18712}
PORT_S=${PORT_S:-18713}
COUNT=${COUNT:-1000}
SUBSCRIBERS=${SUBSCRIBERS:-10000}

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -p tessera -p tessera-bench
fi
BIN=$ROOT/target/release

DIR=$(mktemp -d)
DB=tessera_bench_$$
PIDS=()
DB_CREATED=
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$DB_CREATED" ]; then
    dropdb --if-exists "$DB" || echo "could not drop database $DB" >&2
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Each side holds one socket per subscriber.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -le $((SUBSCRIBERS + 256)) ]; then
  echo "open-file limit $(ulimit -n) is too low for $SUBSCRIBERS subscribers" >&2
  exit 1
fi

wait_ready() { # URL PID
  for _ in $(seq 1 400); do
    if curl -fs "$1/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "server for $1 exited; log:" >&2; cat "$DIR"/*.log >&2; exit 1; }
    sleep 0.05
  done
  echo "$1 not ready after 20 s" >&2
  exit 1
}

export TESSERA_LOG=warn
export TESSERA_LOGIN_MAX_FAILURES=100
export TESSERA_REGISTRATION_RATE=100000/s
export TESSERA_ADMIN_USERNAME=bench-admin
export TESSERA_ADMIN_PASSWORD='a long passphrase for the bench admin'

echo "== revocation propagation: $COUNT logouts, A=127.0.0.1:$PORT_A -> verifier on B=127.0.0.1:$PORT_B"
createdb "$DB"
DB_CREATED=1
# A starts first (migrations, signing key, admin); B then finds them in place.
(
  export TESSERA_DATABASE_URL="postgres://$PGUSER@$PGHOST/$DB"
  export TESSERA_ISSUER=http://tessera.bench.test
  cd "$DIR"
  TESSERA_BIND=127.0.0.1:$PORT_A exec "$BIN/tessera" serve >a.log 2>&1
) &
PID_A=$!
PIDS+=("$PID_A")
wait_ready "http://127.0.0.1:$PORT_A" "$PID_A"
(
  export TESSERA_DATABASE_URL="postgres://$PGUSER@$PGHOST/$DB"
  export TESSERA_ISSUER=http://tessera.bench.test
  cd "$DIR"
  TESSERA_BIND=127.0.0.1:$PORT_B exec "$BIN/tessera" serve >b.log 2>&1
) &
PID_B=$!
PIDS+=("$PID_B")
wait_ready "http://127.0.0.1:$PORT_B" "$PID_B"

uptime
"$BIN/propagation" --a "http://127.0.0.1:$PORT_A" --b "http://127.0.0.1:$PORT_B" \
  --count "$COUNT" --csv "$ROOT/target/propagation.csv"
echo "(samples in target/propagation.csv)"
uptime

kill "$PID_A" "$PID_B"
wait "$PID_A" "$PID_B" 2>/dev/null || true

echo
echo "== idle subscribers: $SUBSCRIBERS on one SQLite-backed process (127.0.0.1:$PORT_S)"
mkdir "$DIR/s"
(
  cd "$DIR/s"
  unset TESSERA_ADMIN_USERNAME TESSERA_ADMIN_PASSWORD
  TESSERA_BIND=127.0.0.1:$PORT_S TESSERA_DATABASE_URL=sqlite://tessera.db \
    exec "$BIN/tessera" serve >../s.log 2>&1
) &
PID_S=$!
PIDS+=("$PID_S")
wait_ready "http://127.0.0.1:$PORT_S" "$PID_S"
uptime
"$BIN/subscribers" --base "http://127.0.0.1:$PORT_S" --pid "$PID_S" --count "$SUBSCRIBERS"
uptime
