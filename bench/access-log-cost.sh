#!/usr/bin/env bash
# What the access log costs the cheapest endpoint: `GET /auth/verify` with
# one token (answered from the verified-token cache), with the default log
# level (an access-log line per request) and with the access log off
# (TESSERA_LOG=info,tessera::access=off), ROUNDS times each, alternating.
# Tessera on CPU 0, wrk (one thread, 32 connections, SECONDS each) on CPU 1;
# the log goes to a file, as under systemd it goes to the journal.
#
#   cargo build --release -p tessera && ROUNDS=2 bash bench/access-log-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
SECONDS_EACH=${SECONDS_EACH:-8}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
bin=$PWD/target/release/tessera

run() { # LOG_FILTER
  local dir port pid token
  dir=$(mktemp -d)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  (cd "$dir" && exec env TESSERA_BIND=127.0.0.1:$port TESSERA_LOG="$1" \
    TESSERA_REGISTRATION_RATE=100000/s taskset -c 0 "$bin" serve) >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  token=$(curl -s -XPOST -H 'content-type: application/json' \
    -d '{"username":"bench","password":"correct horse battery staple 9"}' \
    "http://127.0.0.1:$port/auth/register" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  local rate
  rate=$(taskset -c 1 wrk -t1 -c32 -d"${SECONDS_EACH}s" -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$port/auth/verify" | awk '/Requests\/sec/ {print $2}')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%-28s %10s req/s  %8s log lines\n' "$1" "$rate" "$(wc -l <"$dir/log")"
  rm -rf "$dir"
}

for _ in $(seq "$ROUNDS"); do
  run "info,tessera::access=off"
  run "info"
done
