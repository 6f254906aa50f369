#!/usr/bin/env bash
# The event log's lock, measured alone (docs/operations.md, "The event log's
# lock"): how many event-writing transactions per second one PostgreSQL
# commits when they take turns on the lock, as Tessera's do, and when they
# do not, with `fsync` on. Runs as root (the server of its own runs as the
# `postgres` user), on 127.0.0.1:55432, and removes everything it made.
#
#   bench/event-lock.sh                 clients 1, 8, 32; 8 s each
#   CLIENTS="1 64" SECONDS_EACH=20 bench/event-lock.sh
set -euo pipefail
cd "$(dirname "$0")"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
port=55432
dir=$(mktemp -d)
chown postgres:postgres "$dir"
cleanup() {
  runuser -u postgres -- "$bin/pg_ctl" stop -m immediate -D "$dir/data" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
runuser -u postgres -- "$bin/initdb" -A trust -U postgres -D "$dir/data" >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt)
"${psql[@]}" -c "CREATE TABLE events (seq BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL,
  type TEXT NOT NULL, sub TEXT, admin_only BOOLEAN NOT NULL, payload TEXT NOT NULL)"
# A listener, as every replica holds one.
"${psql[@]}" -c "LISTEN tessera_events; SELECT pg_sleep(100000)" >/dev/null 2>&1 &
listener=$!
echo "| clients | with the lock (transactions/s) | without it | p99 latency with / without (ms) |"
echo "|---|---|---|---|"
for clients in ${CLIENTS:-1 8 32}; do
  row="| $clients |"
  lat=""
  for script in locked unlocked; do
    out=$("$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -c "$clients" -j 2 \
      -T "${SECONDS_EACH:-8}" -r -f "event-lock/$script.sql" --log --log-prefix="$dir/$script" postgres 2>&1)
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)
    p99=$(cat "$dir/$script".* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int(NR*0.99)]/1000}')
    rm -f "$dir/$script".*
    row="$row ${tps%.*} |"
    lat="$lat${lat:+ / }$p99"
  done
  echo "$row $lat |"
done
kill "$listener" 2>/dev/null || true
