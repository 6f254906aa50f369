#!/usr/bin/env bash
# Login flood: 500 concurrent logins against a release build while
# /auth/verify is measured, sampling the server's resident memory.
# Everything runs on 127.0.0.1 and is bounded in time.
#
#   bench/flood.sh            (needs wrk: apt-get install wrk)
#   TESSERA_BIN=path/to/tessera bench/flood.sh   (skip the build)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
if [ -z "${TESSERA_BIN:-}" ]; then
  cargo build --release -p tessera -q
fi
BIN=$(realpath "${TESSERA_BIN:-target/release/tessera}")  # absolute: the server runs in a scratch dir
DIR=$(mktemp -d)
PORT=${PORT:-18700}
B=http://127.0.0.1:$PORT
LOGIN_CONNECTIONS=${LOGIN_CONNECTIONS:-500}
DURATION=${DURATION:-20}

cd "$DIR"
TESSERA_BIND=127.0.0.1:$PORT TESSERA_LOG=warn TESSERA_REGISTRATION_RATE=1000/s \
  "$BIN" serve >server.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do curl -fs $B/healthz >/dev/null 2>&1 && break; sleep 0.05; done

rss() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
PASSWORD='a long passphrase for load tests'
TOKEN=$(curl -fs $B/auth/register -H 'content-type: application/json' \
  -d "{\"username\":\"flood\",\"password\":\"$PASSWORD\"}" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
IDLE_RSS=$(rss)

cat >login.lua <<LUA
wrk.method = "POST"
wrk.body = '{"username":"flood","password":"$PASSWORD"}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat >verify.lua <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA

echo "== /auth/verify, idle (c=16, 10 s)"
wrk -t1 -c16 -d10s --latency -s verify.lua $B/auth/verify | tee idle.txt

echo "== login flood (c=$LOGIN_CONNECTIONS, ${DURATION} s) with /auth/verify measured meanwhile (c=16)"
PEAK=0
( while kill -0 $PID 2>/dev/null; do r=$(rss); echo "$r"; sleep 0.2; done ) >rss.txt &
SAMPLER=$!
wrk -t1 -c"$LOGIN_CONNECTIONS" -d"${DURATION}s" --timeout 30s --latency -s login.lua $B/auth/login >flood.txt &
FLOOD=$!
sleep 3
wrk -t1 -c16 -d$((DURATION - 6))s --latency -s verify.lua $B/auth/verify | tee during.txt
wait $FLOOD || true
kill $SAMPLER 2>/dev/null || true
cat flood.txt
PEAK=$(sort -n rss.txt | tail -1)
echo "== memory"
echo "idle RSS:          $((IDLE_RSS / 1024)) MiB"
echo "peak RSS in flood: $((PEAK / 1024)) MiB"
echo "hashing: $(nproc) at a time x 19 MiB (Argon2id m=19456 KiB)"
