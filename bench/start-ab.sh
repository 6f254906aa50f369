#!/usr/bin/env bash
# Start-up before and after: two tessera binaries (A and B), in turn
# (A B A B …), each started on a copy of one seeded SQLite database (64
# users, no keys yet: the first start makes the signing keys, as every
# server of bench/run.sh does) and then started again on it (a restart:
# the keys are loaded). Prints, per start, the milliseconds from launch to
# the first 200 on /readyz, as bench/run.sh measures them (the `ready`
# tool), and the means of each binary at the end. After each start the
# JWKS is fetched before the server stops: it waits for an ID-token key
# still being made, so the restart loads every key.
#
#   bench/start-ab.sh NEW_BINARY OLD_BINARY        (ROUNDS=8)
#
# Needs the release tools (cargo build --release -p tessera-bench: `seed`
# and `ready`); the CPUs are set as bench/ab-lib.sh says.
set -euo pipefail
source "$(dirname "$0")/ab-lib.sh" "$@"
ROUNDS=${ROUNDS:-8}
TOOLS=$ROOT/target/release
"$TOOLS/seed" --db "$WORK/seed.db" --users 64 --password "$PASSWORD" >/dev/null 2>&1

# start BINARY — one start on $WORK/t.db; sets MS to the milliseconds until
# /readyz first answered, then asks for the JWKS (which waits for a key
# still being made, so that a restart finds every key stored) and stops.
start() {
  local t0
  if curl -s -o /dev/null --max-time 1 http://127.0.0.1:18760/; then
    echo "something already listens on 127.0.0.1:18760: stop it first" >&2
    exit 1
  fi
  t0=$(date +%s%N)
  TESSERA_BIND=127.0.0.1:18760 TESSERA_ISSUER=http://tessera.bench.test \
    TESSERA_DATABASE_URL=sqlite://$WORK/t.db TESSERA_JWT_ALG=ES256 TESSERA_LOG=warn \
    taskset -c "$SERVER_CPU" "$1" serve >"$WORK/server.log" 2>&1 &
  SERVER=$!
  MS=$(taskset -c "$LOAD_CPU" "$TOOLS/ready" 127.0.0.1:18760 --since "$t0" --timeout 60)
  curl -fsS -o /dev/null http://127.0.0.1:18760/.well-known/jwks.json
  halt
}

: >"$WORK/starts"
for _ in $(seq 1 "$ROUNDS"); do
  for label in A B; do
    binary=$A
    [ "$label" = B ] && binary=$B
    rm -f "$WORK"/t.db*
    for file in "$WORK"/seed.db*; do cp "$file" "$WORK/t.db${file#"$WORK"/seed.db}"; done
    start "$binary"
    first=$MS
    start "$binary"
    echo "$label first $first restart $MS" | tee -a "$WORK/starts"
  done
done
awk '{n[$1]++; f[$1] += $3; r[$1] += $5} END {
  for (l in n) printf "%s mean of %d: first %.1f ms, restart %.1f ms\n", l, n[l], f[l] / n[l], r[l] / n[l] }' "$WORK/starts" | sort
