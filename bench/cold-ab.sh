#!/usr/bin/env bash
# Before and after for the paths a warm cache does not help: two tessera
# binaries (A and B), in turn (A B A B …), each measured on
#   - GET /auth/verify with 100,000 distinct ES256 tokens, then HS256 ones
#     (every request a full verification: more tokens than the cache holds);
#   - POST /auth/refresh on SQLite, then on PostgreSQL (64 connections, each
#     answer's refresh token sent again, as bench/run.sh does).
# Each load runs DURATION seconds with 64 connections; each server starts
# fresh. Prints req/s, p99 and the server's CPU per request.
#
#   bench/cold-ab.sh NEW_BINARY OLD_BINARY        (ROUNDS=2 DURATION=10)
#
# Needs the release tools (cargo build --release -p tessera-bench), wrk,
# curl, python3, psql and PostgreSQL at $PG_ADMIN_URL (see bench/ab-lib.sh).
set -euo pipefail
source "$(dirname "$0")/ab-lib.sh" "$@"
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SECRET=$(openssl rand -hex 32)
ISSUER=http://tessera.bench.test
TOOLS=$ROOT/target/release
HZ=$(getconf CLK_TCK)
PG_DB=tessera_cold_ab_$$
on_exit() { psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1; }
cat "$ROOT/bench/wrk/refresh.lua" "$ROOT/bench/wrk/report.lua" >"$WORK/refresh.lua"
cat "$ROOT/bench/wrk/verify-many.lua" "$ROOT/bench/wrk/report.lua" >"$WORK/verify.lua"

# serve BINARY ALG DATABASE_URL — a fresh server on 127.0.0.1:18760.
serve() {
  TESSERA_BIND=127.0.0.1:18760 TESSERA_ISSUER=$ISSUER TESSERA_DATABASE_URL=$3 \
    TESSERA_JWT_ALG=$2 TESSERA_JWT_SECRET=$SECRET TESSERA_REGISTRATION_RATE=1000000/s \
    TESSERA_LOG=warn taskset -c "$SERVER_CPU" "$1" serve >"$WORK/server.log" 2>&1 &
  SERVER=$!
  wait_ready http://127.0.0.1:18760
}
ticks() { awk '{print $14 + $15}' /proc/"$SERVER"/stat; }

# measure LABEL SCRIPT PATH [warm-up] — wrk against the server; one line.
measure() {
  local c0 c1 req dur p99
  if [ "${4:-}" = warm ]; then
    WRK_REPORT=/dev/null taskset -c "$LOAD_CPU" wrk -t1 -c64 -d2s -s "$WORK/$2.lua" "http://127.0.0.1:18760$3" >/dev/null
  fi
  c0=$(ticks)
  WRK_REPORT=$WORK/report taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"${DURATION}s" --timeout 10s \
    -s "$WORK/$2.lua" "http://127.0.0.1:18760$3" >/dev/null
  c1=$(ticks)
  read -r req dur _ p99 _ <"$WORK/report"
  awk -v l="$1" -v r="$req" -v d="$dur" -v p="$p99" -v t=$((c1 - c0)) -v hz="$HZ" \
    'BEGIN {printf "%-44s %8.0f req/s  p99 %6.2f ms  %7.1f µs CPU per request\n", l, r / (d / 1e6), p / 1000, t / hz / r * 1e6}'
}

# round NAME BINARY — the four measurements of one binary.
round() {
  local name=$1 bin=$2 dir
  for alg in ES256 HS256; do
    dir=$WORK/$name-$alg && rm -rf "$dir" && mkdir "$dir"
    serve "$bin" "$alg" "sqlite://$dir/tessera.db"
    mint_tokens "$alg" "$dir" "$WORK/tokens"
    TOKENS=$WORK/tokens measure "$name: verify, 100,000 distinct $alg tokens" verify /auth/verify warm
    halt
  done
  dir=$WORK/$name-refresh && rm -rf "$dir" && mkdir "$dir"
  "$TOOLS/seed" --db "$dir/tessera.db" --users 64 --password "$PASSWORD" >/dev/null 2>&1
  serve "$bin" ES256 "sqlite://$dir/tessera.db"
  refresh_tokens http://127.0.0.1:18760 "$WORK/refresh.tokens"
  REFRESH_TOKENS=$WORK/refresh.tokens measure "$name: refresh, SQLite" refresh /auth/refresh
  halt
  psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null 2>&1
  serve "$bin" ES256 "${PG_ADMIN_URL%/*}/$PG_DB"
  for i in $(seq 0 63); do
    curl -fsS -o /dev/null http://127.0.0.1:18760/auth/register -H 'content-type: application/json' \
      -d "{\"username\":\"$(printf 'bench-user-%07d' "$i")\",\"password\":\"$PASSWORD\"}"
  done
  refresh_tokens http://127.0.0.1:18760 "$WORK/refresh.tokens"
  REFRESH_TOKENS=$WORK/refresh.tokens measure "$name: refresh, PostgreSQL" refresh /auth/refresh
  halt
}

for _ in $(seq 1 "$ROUNDS"); do
  round A "$A"
  round B "$B"
done
