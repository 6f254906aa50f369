#!/usr/bin/env bash
# What the before-and-after scripts share (bench/cold-ab.sh,
# bench/miss-ab.sh, bench/refresh-tail.sh, bench/start-ab.sh,
# bench/verify-ab.sh). Sourced
# with the script's arguments:
#
#   set -euo pipefail
#   source "$(dirname "$0")/ab-lib.sh" "$@"
#
# it reads the two binaries into A and B, moves to the repository's root
# (ROOT), makes the work directory WORK (under $DB_DIR if set) and, on exit,
# stops the server whose pid is in SERVER, calls the script's `on_exit` if
# it defines one and removes WORK. Servers run on CPU $SERVER_CPU (0), the
# load on $LOAD_CPU (1). wrk is installed if missing.
set -euo pipefail
SCRIPT=$(basename "$0")
A=$(realpath "${1:?usage: $SCRIPT NEW_BINARY OLD_BINARY}")
B=$(realpath "${2:?usage: $SCRIPT NEW_BINARY OLD_BINARY}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PASSWORD='a long passphrase for load tests'
WORK=$(mktemp -d -p "${DB_DIR:-${TMPDIR:-/tmp}}")
SERVER=""

# halt — stops the server under test, if one runs.
halt() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  SERVER=""
}

cleanup() {
  halt
  if declare -F on_exit >/dev/null; then on_exit || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null

# wait_ready BASE_URL — waits up to 10 s for the server's /readyz; fails
# (status 1) if it does not answer.
wait_ready() {
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$1/readyz" && return
    sleep 0.1
  done
  echo "the server did not start" >&2
  return 1
}

# refresh_tokens BASE_URL FILE — signs in 72 times as the 64 bench users
# (bench-user-0000000…), one refresh token per line of FILE.
refresh_tokens() {
  : >"$2"
  for i in $(seq 0 71); do
    curl -fsS "$1/auth/login" -H 'content-type: application/json' \
      -d "{\"username\":\"$(printf 'bench-user-%07d' $((i % 64)))\",\"password\":\"$PASSWORD\"}" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["refresh_token"])' >>"$2"
  done
}

# mint_tokens ALG DIR FILE — 100,000 distinct access tokens, one per line
# of FILE: signed with the key in DIR/tessera.db for ES256, with $SECRET for
# HS256 (the script sets ISSUER, SECRET and TOOLS).
mint_tokens() {
  if [ "$1" = ES256 ]; then
    "$TOOLS/mint" --count 100000 --issuer "$ISSUER" --out "$3" --db "$2/tessera.db" 2>/dev/null
  else
    "$TOOLS/mint" --count 100000 --issuer "$ISSUER" --out "$3" --hs-secret "$SECRET" 2>/dev/null
  fi
}
