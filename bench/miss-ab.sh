#!/usr/bin/env bash
# Before and after for GET /auth/verify with more distinct tokens than the
# cache holds (every request a full signature check), in short tight pairs:
# both binaries (A and B) serve at once on CPU $SERVER_CPU, each with its
# own database and its own 100,000 minted tokens, and the load alternates
# between them (A B, B A, A B, …), so a drift in the machine's speed falls
# on both alike. Only the loaded server works; the other waits idle.
#
#   bench/miss-ab.sh NEW_BINARY OLD_BINARY      (PAIRS=6 DURATION=4 ALG=ES256)
#
# Prints, per load, req/s, p99 and the server's CPU per request. Needs the
# release tools (cargo build --release -p tessera-bench), wrk and curl.
set -euo pipefail
source "$(dirname "$0")/ab-lib.sh" "$@"
PAIRS=${PAIRS:-6}
DURATION=${DURATION:-4}
ALG=${ALG:-ES256}
SECRET=$(openssl rand -hex 32)
ISSUER=http://tessera.bench.test
TOOLS=$ROOT/target/release
HZ=$(getconf CLK_TCK)
OTHER=""
on_exit() { if [ -n "$OTHER" ]; then kill "$OTHER" 2>/dev/null || true; fi; }
cat "$ROOT/bench/wrk/verify-many.lua" "$ROOT/bench/wrk/report.lua" >"$WORK/verify.lua"

# start NAME BINARY PORT — a server with its own database and tokens.
start() {
  mkdir "$WORK/$1"
  TESSERA_BIND=127.0.0.1:$3 TESSERA_ISSUER=$ISSUER TESSERA_DATABASE_URL=sqlite://$WORK/$1/tessera.db \
    TESSERA_JWT_ALG=$ALG TESSERA_JWT_SECRET=$SECRET TESSERA_LOG=warn \
    taskset -c "$SERVER_CPU" "$2" serve >"$WORK/$1/log" 2>&1 &
  echo $! >"$WORK/$1/pid"
  wait_ready "http://127.0.0.1:$3"
  mint_tokens "$ALG" "$WORK/$1" "$WORK/$1/tokens"
}

# load NAME PORT [warm-up] — wrk against one of them; one line.
load() {
  local pid c0 c1 req dur p99
  pid=$(cat "$WORK/$1/pid")
  if [ "${3:-}" = warm ]; then
    TOKENS=$WORK/$1/tokens WRK_REPORT=/dev/null taskset -c "$LOAD_CPU" wrk -t1 -c64 -d2s \
      -s "$WORK/verify.lua" "http://127.0.0.1:$2/auth/verify" >/dev/null
    return
  fi
  c0=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
  TOKENS=$WORK/$1/tokens WRK_REPORT=$WORK/report taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"${DURATION}s" \
    --timeout 10s -s "$WORK/verify.lua" "http://127.0.0.1:$2/auth/verify" >/dev/null
  c1=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
  read -r req dur _ p99 _ <"$WORK/report"
  awk -v l="$1" -v r="$req" -v d="$dur" -v p="$p99" -v t=$((c1 - c0)) -v hz="$HZ" \
    'BEGIN {printf "%s  %8.0f req/s  p99 %6.2f ms  %6.1f µs CPU per request\n", l, r / (d / 1e6), p / 1000, t / hz / r * 1e6}'
}

start A "$A" 18771
OTHER=$(cat "$WORK/A/pid")
start B "$B" 18772
SERVER=$(cat "$WORK/B/pid")
load A 18771 warm
load B 18772 warm
echo "$ALG, 100,000 distinct tokens, $PAIRS pairs of ${DURATION} s loads (A: $A, B: $B)"
for i in $(seq 1 "$PAIRS"); do
  if [ $((i % 2)) = 1 ]; then load A 18771; load B 18772; else load B 18772; load A 18771; fi
done
