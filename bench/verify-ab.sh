#!/usr/bin/env bash
# Before and after for GET /auth/verify: two tessera binaries (A and B) on
# the same machine, in turn (A B A B …), each loaded by wrk for DURATION
# seconds with 64 connections after a warm-up. Taking them in pairs keeps
# the comparison fair when the machine's speed drifts during the run.
#
#   bench/verify-ab.sh NEW_BINARY OLD_BINARY        (PAIRS=5 DURATION=5)
#
# Prints each pair's requests/s and the median of the ratios A/B (see
# bench/ab-lib.sh for the CPUs).
set -euo pipefail
source "$(dirname "$0")/ab-lib.sh" "$@"
PAIRS=${PAIRS:-5}
DURATION=${DURATION:-5}

# rps BINARY — one measurement: a fresh server, one user, one token, wrk.
rps() {
  local dir port base token
  dir=$(mktemp -d "$WORK/run.XXXX")
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  base=http://127.0.0.1:$port
  (cd "$dir" && exec env TESSERA_BIND="127.0.0.1:$port" TESSERA_LOG=warn \
    taskset -c "$SERVER_CPU" "$1" serve) >"$dir/log" 2>&1 &
  SERVER=$!
  # In a command substitution: `set -e` does not hold, so stop the server here.
  wait_ready "$base" || { halt; return 1; }
  token=$(curl -fs "$base/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  taskset -c "$LOAD_CPU" wrk -t1 -c64 -d2s -H "Authorization: Bearer $token" "$base/auth/verify" >/dev/null
  taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"${DURATION}s" -H "Authorization: Bearer $token" \
    "$base/auth/verify" | awk '/Requests\/sec/ { printf "%d", $2 }'
  halt
}

ratios=()
echo "pair  A (req/s)  B (req/s)  A/B"
for i in $(seq 1 "$PAIRS"); do
  a=$(rps "$A")
  b=$(rps "$B")
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
  ratios+=("$ratio")
  printf '%4d  %9d  %9d  %s\n' "$i" "$a" "$b" "$ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END { printf "median A/B: %.3f\n", (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }'
