#!/usr/bin/env bash
# The pages' figures (BENCHMARKS.md, "Pages"): how long the console and
# account pages take to render, and whether the console's user search is as
# fast with 1,000,000 users as with 10. For each size it seeds a fresh
# SQLite database (bench/src/bin/seed.rs), starts the release build with a
# bootstrap admin, signs in through /login like a browser, then loads each
# page with wrk (one connection, one thread: the time of one page) and
# measures the idle memory.
#
#   bench/console.sh                  10 and 1,000,000 users, 5 s per page
#   DURATION=2 SIZES="10 100000" bench/console.sh
#
# The server runs on CPU $SERVER_CPU (default 0), wrk on $LOAD_CPU (1).
# Results: $OUT/console.md (default target/bench/console.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/target/bench}
DURATION=${DURATION:-5}
SIZES=${SIZES:-"10 1000000"}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
ADMIN_PASSWORD='a long admin passphrase'
BIN=$ROOT/target/release
WORK=$(mktemp -d)
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
say() { printf '== %s\n' "$*" >&2; }

command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
say "building release binaries"
cargo build --release --quiet -p tessera
cargo build --release --quiet -p tessera-bench --bin seed
mkdir -p "$OUT"

# The pages, as an administrator would open them. The search finds names by
# prefix: `bench-user-05` matches 100,000 of a million (one page shown), the
# full name one, `status=disabled` and `role=admin` use their indexes.
PAGES=(
  "/console/users?q=bench-user-05"
  "/console/users?q=bench-user-0999999"
  "/console/users?q=bench-user-05&cursor=bench-user-0550000"
  "/console/users?status=disabled"
  "/console/users?role=admin"
  "/console/users/bench-user-0000007"
  "/console"
  "/account"
  "/account/sessions"
)

{
  echo "| page | users | requests/s | p50 | p99 |"
  echo "|---|---:|---:|---:|---:|"
} >"$WORK/table.md"
{
  echo "| users | idle RSS after the loads |"
  echo "|---:|---:|"
} >"$WORK/memory.md"

for size in $SIZES; do
  dir=$WORK/$size
  mkdir -p "$dir"
  say "seeding $size users"
  "$BIN/seed" --db "$dir/tessera.db" --users "$size" >&2
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  base=http://127.0.0.1:$port
  (
    cd "$dir"
    exec env TESSERA_BIND="127.0.0.1:$port" TESSERA_DATABASE_URL="sqlite://$dir/tessera.db" \
      TESSERA_ADMIN_USERNAME=root TESSERA_ADMIN_PASSWORD="$ADMIN_PASSWORD" TESSERA_LOG=warn \
      taskset -c "$SERVER_CPU" "$BIN/tessera" serve
  ) >"$dir/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -fs "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

  # Sign in like a browser: the login page's CSRF cookie and token, then the form.
  jar=$dir/cookies
  csrf=$(curl -fs -c "$jar" "$base/login" | grep -o 'name="csrf_token" value="[^"]*"' | head -1 | cut -d'"' -f4)
  curl -fs -b "$jar" -c "$jar" -o /dev/null \
    --data-urlencode "csrf_token=$csrf" --data-urlencode "return_to=/console" \
    --data-urlencode "username=root" --data-urlencode "password=$ADMIN_PASSWORD" "$base/login"
  session=$(awk '$6 == "tessera_session" { print $7 }' "$jar")
  [ -n "$session" ] || { echo "could not sign in" >&2; cat "$dir/server.log" >&2; exit 1; }

  for path in "${PAGES[@]}"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: tessera_session=$session" "$base$path")
    [ "$status" = 200 ] || { echo "$path answered $status" >&2; exit 1; }
    cat "$ROOT/bench/wrk/report.lua" >"$dir/page.lua"
    WRK_REPORT=$dir/report taskset -c "$LOAD_CPU" wrk -t1 -c1 -d"${DURATION}s" \
      -H "Cookie: tessera_session=$session" -s "$dir/page.lua" "$base$path" >"$dir/wrk.txt" 2>&1
    read -r requests duration p50 p99 _max errors socket_errors <"$dir/report"
    if [ "$errors" != 0 ] || [ "$socket_errors" != 0 ]; then
      echo "$path: $errors error answers, $socket_errors socket errors" >&2
      exit 1
    fi
    awk -v p="$path" -v n="$size" -v r="$requests" -v d="$duration" -v a="$p50" -v b="$p99" \
      'BEGIN { printf "| `%s` | %d | %.0f | %.2f ms | %.2f ms |\n", p, n, r / (d / 1e6), a / 1000, b / 1000 }' \
      >>"$WORK/table.md"
  done
  sleep 3
  rss=$(awk '/^VmRSS/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$SERVER/status")
  echo "| $size | $rss |" >>"$WORK/memory.md"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
done

{
  echo "# Pages: render times and the user search at scale"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), \`bench/console.sh\` (DURATION=$DURATION, one wrk connection on CPU $LOAD_CPU, the server on CPU $SERVER_CPU), $(nproc --all) CPUs, load before: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  cat "$WORK/table.md"
  echo
  cat "$WORK/memory.md"
} >"$OUT/console.md"
cat "$OUT/console.md"
