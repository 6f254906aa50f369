#!/usr/bin/env bash
# The comparative benchmark kit (BENCHMARKS.md): Tessera against the stacks
# people write themselves (Express, Flask, FastAPI) and against a bare hyper
# server (the ceiling), side by side in one run, on 127.0.0.1.
#
#   bench/run.sh                       everything, 9 to 14 minutes
#   DURATION=5 bench/run.sh            shorter loads
#   WARMUP=0 bench/run.sh              no warm-up before the GET loads
#   SCALE_USERS=100000 bench/run.sh    a smaller "large" database
#
# Each server runs alone on CPU $SERVER_CPU (default 0) and the load
# generator (wrk, one thread) on CPU $LOAD_CPU (default 1), so the two never
# compete for a core. Every load is bounded in time. Results go to
# $OUT/results.md (default target/bench/results.md), with each wrk output and
# server log beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/target/bench}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
SCALE_USERS=${SCALE_USERS:-1000000}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PASSWORD='a long passphrase for load tests'
BENCH_USERS=64
CONC=64
HZ=$(getconf CLK_TCK)
BIN=$ROOT/target/release
PEERS=$ROOT/bench/peers

mkdir -p "$OUT/logs"
rm -f "$OUT"/logs/*
WORK=$(mktemp -d)
PIDS=()
PG_DB=""
cleanup() {
  for pid in "${PIDS[@]}"; do stop_tree "$pid"; done
  if [ -n "$PG_DB" ]; then
    psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools
need() { command -v "$1" >/dev/null || { echo "bench/run.sh needs $1" >&2; exit 1; }; }
for tool in curl openssl taskset node npm python3 psql; do need "$tool"; done
if ! command -v wrk >/dev/null; then
  say "installing wrk (Debian package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
[ "$(nproc --all)" -ge 2 ] || { echo "two CPUs are needed (server and load generator apart)" >&2; exit 1; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
SECONDS=0

say "building release binaries"
nice -n 10 cargo build --release -q -p tessera -p tessera-bench

say "installing the peers (pinned: package-lock.json, requirements.txt)"
if [ ! -d "$PEERS/express/node_modules" ] || [ "$PEERS/express/package-lock.json" -nt "$PEERS/express/node_modules" ]; then
  (cd "$PEERS/express" && npm ci --omit=dev --no-audit --no-fund --loglevel=error && touch node_modules)
fi
if [ ! -x "$PEERS/python/.venv/bin/python" ] || [ "$PEERS/python/requirements.txt" -nt "$PEERS/python/.venv" ]; then
  python3 -m venv "$PEERS/python/.venv"
  "$PEERS/python/.venv/bin/pip" install -q -r "$PEERS/python/requirements.txt"
  touch "$PEERS/python/.venv"
fi

# Keys the peers share among their workers.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/ec.pem" 2>/dev/null
HS_SECRET=$(openssl rand -hex 32)

# ---------------------------------------------------------------- processes
# A process and all its descendants (cluster workers, gunicorn workers).
tree() {
  local pid=$1 child
  echo "$pid"
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do tree "$child"; done
}
# User + system CPU of a process tree, in clock ticks (/proc/PID/stat 14, 15).
cpu_ticks() {
  local total=0 pid stat
  for pid in $(tree "$1"); do
    stat=$(cat /proc/"$pid"/stat 2>/dev/null) || continue
    stat=${stat##*) }
    set -- $stat
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}
# Resident memory of a process tree, KiB.
rss_kib() {
  local total=0 pid
  for pid in $(tree "$1"); do
    total=$((total + $(awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status 2>/dev/null || echo 0)))
  done
  echo "$total"
}
# Samples a tree's RSS every 0.1 s, keeping the largest in $2, until killed.
sample_rss() {
  local max=0 now
  while :; do
    now=$(rss_kib "$1")
    if [ "$now" -gt "$max" ]; then max=$now; echo "$max" >"$2"; fi
    sleep 0.1
  done
}
stop_tree() {
  local pids pid
  pids=$(tree "$1" 2>/dev/null) || return 0
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  wait "$1" 2>/dev/null || true
}

# start NAME ADDRESS DIR COMMAND… — starts a server on $SERVER_CPU in DIR,
# sets SERVER (its pid), STARTUP_MS (until /readyz first answers 200) and
# IDLE_RSS (KiB, one second later).
start() {
  local name=$1 address=$2 dir=$3 t0
  shift 3
  if curl -s -o /dev/null --max-time 1 "http://$address/"; then
    echo "something already listens on $address: stop it first" >&2
    exit 1
  fi
  t0=$(date +%s%N)
  (cd "$dir" && exec taskset -c "$SERVER_CPU" "$@" >"$OUT/logs/$name.log" 2>&1) &
  SERVER=$!
  PIDS+=("$SERVER")
  STARTUP_MS=$(taskset -c "$LOAD_CPU" "$BIN/ready" "$address" --since "$t0" --timeout 60)
  sleep 1
  IDLE_RSS=$(rss_kib "$SERVER")
  SERVER_NAME=$name
  BASE=http://$address
}
stop() {
  local pid kept=()
  stop_tree "$SERVER"
  for pid in "${PIDS[@]}"; do [ "$pid" = "$SERVER" ] || kept+=("$pid"); done
  PIDS=("${kept[@]}")
}

# ---------------------------------------------------------------- results
RESULTS=$WORK/loads.md
STARTS=$WORK/starts.md
: >"$RESULTS"
: >"$STARTS"
declare -A FIG   # figures the goals are checked against
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
ms() { awk -v us="$1" 'BEGIN {printf "%.2f", us / 1000}'; }
start_row() {
  printf '| %s | %s | %s | %s |\n' "$1" "$STARTUP_MS" "$(mib "$IDLE_RSS")" "${2:-}" >>"$STARTS"
  FIG[$1.startup]=$STARTUP_MS
  FIG[$1.idle_rss]=$IDLE_RSS
}

# load KEY SCENARIO SCRIPT PATH CONNECTIONS SECONDS — runs wrk against the
# current server and records a row. Environment for the script is passed by
# the caller (TOKEN, USERS, REFRESH_TOKENS…).
load() {
  local key=$1 scenario=$2 script=$3 path=$4 conns=$5 secs=$6
  local report=$WORK/$key.report peak=$WORK/$key.peak sampler c0 c1
  cat "$ROOT/bench/wrk/$script.lua" "$ROOT/bench/wrk/report.lua" >"$WORK/$key.lua"
  # GET loads repeat their requests, so a short unmeasured run first can
  # warm the server (connections, buffers, caches); logins and refreshes
  # change state and get none.
  if [[ $script == verify* ]] && [ "$WARMUP" -gt 0 ]; then
    WRK_REPORT=/dev/null taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${WARMUP}s" --timeout 10s \
      -s "$WORK/$key.lua" "$BASE$path" >/dev/null 2>&1 || true
  fi
  echo "$(rss_kib "$SERVER")" >"$peak"
  taskset -c "$LOAD_CPU" bash -c "$(declare -f tree rss_kib sample_rss); sample_rss $SERVER $peak" &
  sampler=$!
  c0=$(cpu_ticks "$SERVER")
  WRK_REPORT=$report taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s \
    -s "$WORK/$key.lua" "$BASE$path" >"$OUT/logs/$key.wrk.txt" 2>&1
  c1=$(cpu_ticks "$SERVER")
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  record "$key" "$scenario" "$conns" "$report" "$((c1 - c0))" "$(cat "$peak")"
}
# record KEY SCENARIO CONNECTIONS REPORT CPU_TICKS PEAK_RSS (CPU "-": shared)
record() {
  local key=$1 scenario=$2 conns=$3 cpu=$5 peak=$6 req dur p50 p99 max failed sockerr rps cpu1k
  read -r req dur p50 p99 max failed sockerr <"$4"
  rps=$(awk -v r="$req" -v d="$dur" 'BEGIN {printf "%.0f", r / (d / 1e6)}')
  if [ "$cpu" = "-" ] || [ "$req" -eq 0 ]; then cpu1k="—"; else
    cpu1k=$(awk -v t="$cpu" -v hz="$HZ" -v r="$req" 'BEGIN {printf "%.4f", t / hz / r * 1000}')
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$scenario" "$SERVER_NAME" "$conns" "$rps" "$(ms "$p50")" "$(ms "$p99")" "$(ms "$max")" \
    "$((failed + sockerr))" "$cpu1k" "$(mib "$IDLE_RSS")" "$(mib "$peak")" >>"$RESULTS"
  FIG[$key.rps]=$rps
  FIG[$key.p99]=$p99
  FIG[$key.peak]=$peak
  FIG[$key.errors]=$((failed + sockerr))
  say "$key: $rps req/s, p99 $(ms "$p99") ms, $((failed + sockerr)) errors"
}

# The string field $1 of the JSON on stdin (whose last line may lack a newline).
json_field() { { cat; echo; } | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
login_token() { # USERNAME → the access token; the whole answer stays in last-login.json
  curl -fsS "$BASE/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$PASSWORD\"}" | tee "$WORK/last-login.json" | json_field access_token
}
user() { printf 'bench-user-%07d' "$1"; }

# ---------------------------------------------------------------- hash limit
say "hash limit: Argon2id (m=19456, t=2, p=1) on one core"
taskset -c "$SERVER_CPU" "$BIN/hashrate" 5 >"$WORK/hashrate.txt"
HASH_RATE=$(awk '/hashes_per_second/ {print $2}' "$WORK/hashrate.txt")
HASH_MS=$(awk '/ms_per_hash/ {print $2}' "$WORK/hashrate.txt")

# ---------------------------------------------------------------- verification limit
# What the signature checks alone allow on the server's core: aws-lc-rs
# verifying one signature after another, the key parsed beforehand; for
# ES256 both one signature again and again and 100,000 different ones in
# turn, as the loads of distinct tokens send them.
say "verification limit: bare aws-lc-rs signature checks on one core"
taskset -c "$SERVER_CPU" "$BIN/verifyrate" 3 >"$WORK/verifyrate.txt"
ES_LIMIT=$(awk '/^es256_per_second/ {print $2}' "$WORK/verifyrate.txt")
ES_LIMIT_DISTINCT=$(awk '/^es256_distinct_per_second/ {print $2}' "$WORK/verifyrate.txt")
HS_LIMIT=$(awk '/^hs256_per_second/ {print $2}' "$WORK/verifyrate.txt")
# The limit over 100,000 different ES256 signatures, now: verifications a second.
es_limit_now() {
  taskset -c "$SERVER_CPU" "$BIN/verifyrate" 3 es256_distinct | awk '/^es256_distinct_per_second / {print $2}'
}

# ---------------------------------------------------------------- ceiling
# The ceiling gets the very request Tessera gets, Authorization header and
# all (an ES256 token is about 600 bytes, and reading them is part of what
# any server must do). It is measured right after each Tessera verify load,
# with that load's token, so the machine has had no time to drift between
# the two; and once more at the end with the ES256 token, to show how far
# the machine drifted over the run.
ceiling() { # KEY WHEN TOKEN
  say "ceiling: bare hyper, constant 200 ($2)"
  start ceiling 127.0.0.1:18790 "$WORK" "$BIN/ceiling" 127.0.0.1:18790
  if [ "$1" = ceiling-es256.verify ]; then start_row ceiling; fi
  TOKEN=$3 load "$1" "GET /auth/verify (any answer 200), $2" verify /auth/verify $CONC "$DURATION"
  stop
}

# ---------------------------------------------------------------- Tessera
# Tessera with its defaults but for the issuer, the algorithm (and its
# secret), the database, a registration rate the set-up can use, and the
# access log off, as the peers have none (its cost is measured on its own
# in BENCHMARKS.md).
start_tessera() { # NAME DIR PORT ALG [DATABASE_URL]
  local env=(env TESSERA_BIND=127.0.0.1:"$3" TESSERA_ISSUER=http://tessera.bench.test
    TESSERA_DATABASE_URL="${5:-sqlite://$2/tessera.db}" TESSERA_JWT_ALG="$4"
    TESSERA_REGISTRATION_RATE=1000000/s TESSERA_LOG=info,tessera::access=off)
  if [ "$4" = HS256 ]; then env+=(TESSERA_JWT_SECRET="$HS_SECRET"); fi
  mkdir -p "$2"
  start "$1" 127.0.0.1:"$3" "$2" "${env[@]}" "$BIN/tessera" serve
}
# distinct NAME ISSUER MINT-ARGS… — mints 100,000 distinct access tokens
# for the current server into $WORK/NAME-100k.tokens, and its first 1,000
# into $WORK/NAME-1k.tokens.
distinct() {
  local name=$1 issuer=$2
  shift 2
  taskset -c "$LOAD_CPU" "$BIN/mint" --count 100000 --issuer "$issuer" --out "$WORK/$name-100k.tokens" "$@"
  head -n 1000 "$WORK/$name-100k.tokens" >"$WORK/$name-1k.tokens"
}
# distinct_loads KEY — GET /auth/verify with 1,000 and 100,000 distinct
# tokens (made by `distinct KEY …`) on the current server.
distinct_loads() {
  TOKENS=$WORK/$1-1k.tokens load "$1.verify-1k" "GET /auth/verify, 1,000 distinct tokens" verify-many /auth/verify $CONC "$DURATION"
  TOKENS=$WORK/$1-100k.tokens load "$1.verify-100k" "GET /auth/verify, 100,000 distinct tokens" verify-many /auth/verify $CONC "$DURATION"
}
seed() { # DIR USERS
  mkdir -p "$1"
  taskset -c "$LOAD_CPU" "$BIN/seed" --db "$1/tessera.db" --users "$2" --password "$PASSWORD" >&2
}

say "Tessera ES256 on SQLite"
seed "$WORK/es256" $BENCH_USERS
start_tessera tessera-es256 "$WORK/es256" 18701 ES256
start_row tessera-es256 "SQLite, $BENCH_USERS users"
TOKEN=$(login_token "$(user 0)")
ES_TOKEN=$TOKEN
TOKEN=$TOKEN load tessera-es256.verify "GET /auth/verify" verify /auth/verify $CONC "$DURATION"
stop
ceiling ceiling-es256.verify "the ES256 token" "$ES_TOKEN"

say "Tessera ES256: distinct tokens, each checked in full the first time"
start_tessera tessera-es256 "$WORK/es256" 18701 ES256
distinct tessera-es256 http://tessera.bench.test --db "$WORK/es256/tessera.db"
# The limit these loads are held to is taken again right before and right
# after them (the server idle), as the ceiling is right after its load: the
# machine's speed drifts over a run, and the goal takes the higher figure.
es_limit_now >"$WORK/es-limit.before"
distinct_loads tessera-es256
es_limit_now >"$WORK/es-limit.after"
stop
ES_LIMIT_BEFORE=$(cat "$WORK/es-limit.before")
ES_LIMIT_AFTER=$(cat "$WORK/es-limit.after")
ES_LIMIT_NEAR=$((ES_LIMIT_BEFORE > ES_LIMIT_AFTER ? ES_LIMIT_BEFORE : ES_LIMIT_AFTER))

say "Tessera ES256 on SQLite again (same database): logins, a login flood, refreshes"
start_tessera tessera-es256 "$WORK/es256" 18701 ES256
TOKEN=$(login_token "$(user 0)")
USERS=$BENCH_USERS PASSWORD=$PASSWORD load tessera-es256.login "POST /auth/login" login /auth/login 16 "$DURATION"

say "Tessera: /auth/verify during a login flood"
FLOOD_SECS=$((DURATION + 6))
cat "$ROOT/bench/wrk/login.lua" "$ROOT/bench/wrk/report.lua" >"$WORK/flood.lua"
echo "$(rss_kib "$SERVER")" >"$WORK/flood.peak"
taskset -c "$LOAD_CPU" bash -c "$(declare -f tree rss_kib sample_rss); sample_rss $SERVER $WORK/flood.peak" &
FLOOD_SAMPLER=$!
USERS=$BENCH_USERS PASSWORD=$PASSWORD WRK_REPORT=$WORK/flood.report taskset -c "$LOAD_CPU" \
  wrk -t1 -c256 -d"${FLOOD_SECS}s" --timeout 30s -s "$WORK/flood.lua" "$BASE/auth/login" \
  >"$OUT/logs/tessera-es256.flood.wrk.txt" 2>&1 &
FLOOD=$!
sleep 3
cat "$ROOT/bench/wrk/verify.lua" "$ROOT/bench/wrk/report.lua" >"$WORK/during.lua"
TOKEN=$TOKEN WRK_REPORT=$WORK/during.report taskset -c "$LOAD_CPU" wrk -t1 -c$CONC -d"${DURATION}s" \
  --timeout 10s -s "$WORK/during.lua" "$BASE/auth/verify" >"$OUT/logs/tessera-es256.during.wrk.txt" 2>&1
wait "$FLOOD" || true
kill "$FLOOD_SAMPLER" 2>/dev/null; wait "$FLOOD_SAMPLER" 2>/dev/null || true
FLOOD_PEAK=$(cat "$WORK/flood.peak")
record tessera-es256.during "GET /auth/verify during the login flood" $CONC "$WORK/during.report" - "$FLOOD_PEAK"
record tessera-es256.flood "POST /auth/login flood (with the verify load above)" 256 "$WORK/flood.report" - "$FLOOD_PEAK"
sleep 4 # past the hashing pool's idle release
AFTER_FLOOD_RSS=$(rss_kib "$SERVER")

say "Tessera: a mixed load (verify 90%, refresh 8%, login 2%)"
MIXED_C0=$(cpu_ticks "$SERVER")
taskset -c "$LOAD_CPU" "$BIN/mixed" --base "$BASE" --tokens "$WORK/tessera-es256-1k.tokens" \
  --seconds "$DURATION" --connections $CONC --users $BENCH_USERS --password "$PASSWORD" >"$WORK/mixed.txt"
MIXED_CPU=$(($(cpu_ticks "$SERVER") - MIXED_C0))
MIXED_REQUESTS=$(awk -F'\t' '{n += $2} END {print n}' "$WORK/mixed.txt")
cp "$WORK/mixed.txt" "$OUT/logs/tessera-es256.mixed.txt"

say "Tessera: refresh on SQLite"
: >"$WORK/refresh-sqlite.tokens"
for i in $(seq 0 $((CONC + 7))); do
  login_token "$(user $((i % BENCH_USERS)))" >/dev/null
  json_field refresh_token <"$WORK/last-login.json" >>"$WORK/refresh-sqlite.tokens"
done
REFRESH_TOKENS=$WORK/refresh-sqlite.tokens load tessera-es256.refresh "POST /auth/refresh (SQLite)" refresh /auth/refresh $CONC "$DURATION"
stop

say "Tessera HS256 on SQLite"
seed "$WORK/hs256" $BENCH_USERS
start_tessera tessera-hs256 "$WORK/hs256" 18702 HS256
start_row tessera-hs256 "SQLite, $BENCH_USERS users"
TOKEN=$(login_token "$(user 0)")
TOKEN=$TOKEN load tessera-hs256.verify "GET /auth/verify" verify /auth/verify $CONC "$DURATION"
distinct tessera-hs256 http://tessera.bench.test --hs-secret "$HS_SECRET"
distinct_loads tessera-hs256
stop
ceiling ceiling-hs256.verify "the HS256 token" "$TOKEN"

say "Tessera ES256 on PostgreSQL"
PG_DB=tessera_bench_$$
psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null
PG_URL=${PG_ADMIN_URL%/*}/$PG_DB
start_tessera tessera-es256-pg "$WORK/pg" 18703 ES256 "$PG_URL"
start_row tessera-es256-pg "PostgreSQL (same machine, not pinned)"
: >"$WORK/refresh-pg.tokens"
for i in $(seq 0 $((CONC + 7))); do
  curl -fsS "$BASE/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"$(user "$i")\",\"password\":\"$PASSWORD\"}" | json_field refresh_token >>"$WORK/refresh-pg.tokens"
done
REFRESH_TOKENS=$WORK/refresh-pg.tokens load tessera-es256-pg.refresh "POST /auth/refresh (PostgreSQL)" refresh /auth/refresh $CONC "$DURATION"
stop
psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
PG_DB=""

# ---------------------------------------------------------------- scale
for size in 1000 "$SCALE_USERS"; do
  say "Tessera with $size users"
  dir=$WORK/scale-$size
  SEED_STARTED=$(date +%s%N)
  seed "$dir" "$size"
  FIG[seed.$size]=$(awk -v a="$SEED_STARTED" -v b="$(date +%s%N)" 'BEGIN {printf "%.1f", (b - a) / 1e9}')
  start_tessera "tessera-$size-users" "$dir" 18704 ES256
  start_row "tessera-$size-users" "SQLite, $size users"
  TOKEN=$(login_token "$(user $((size - 1)))")
  USERS=$BENCH_USERS USER_OFFSET=$((size - BENCH_USERS)) PASSWORD=$PASSWORD \
    load "scale-$size.login" "POST /auth/login (last $BENCH_USERS users)" login /auth/login 16 "$DURATION"
  TOKEN=$TOKEN load "scale-$size.first" "GET /users (first page of 50)" verify "/users?limit=50" $CONC "$DURATION"
  # The cursor is the last lower-cased username of the previous page.
  cursor=$(user $((size - 51)))
  TOKEN=$TOKEN load "scale-$size.last" "GET /users (last page of 50)" verify "/users?limit=50&cursor=$cursor" $CONC "$DURATION"
  stop
  rm -rf "$dir"
done

# ---------------------------------------------------------------- peers
start_peer() { # NAME ALG PORT
  local name=$1 alg=$2 port=$3
  local env=(env PEER_ALG="$alg" PEER_BIND=127.0.0.1:"$port" PEER_HS_SECRET="$HS_SECRET"
    PEER_EC_KEY="$WORK/ec.pem" PEER_ISSUER=http://peer.bench.test PEER_USERS=$BENCH_USERS
    PEER_PASSWORD="$PASSWORD")
  case $name in
  express) start "express-$alg" 127.0.0.1:"$port" "$PEERS/express" \
    "${env[@]}" NODE_ENV=production node server.js ;;
  flask) start "flask-$alg" 127.0.0.1:"$port" "$PEERS/python" \
    "${env[@]}" .venv/bin/gunicorn -c gunicorn.conf.py flask_app:app ;;
  fastapi) start "fastapi-$alg" 127.0.0.1:"$port" "$PEERS/python" \
    "${env[@]}" .venv/bin/uvicorn fastapi_app:app --host 127.0.0.1 --port "$port" \
    --workers "$(taskset -c "$SERVER_CPU" nproc)" --loop uvloop --http httptools \
    --no-access-log --log-level warning ;;
  esac
}
say "minting the peers' distinct tokens"
distinct peer-ES256 http://peer.bench.test --pem "$WORK/ec.pem"
distinct peer-HS256 http://peer.bench.test --hs-secret "$HS_SECRET"
for peer in express flask fastapi; do
  for alg in ES256 HS256; do
    say "$peer $alg"
    start_peer "$peer" "$alg" 18800
    start_row "$peer-$alg"
    TOKEN=$(login_token "$(user 0)")
    TOKEN=$TOKEN load "$peer-$alg.verify" "GET /auth/verify" verify /auth/verify $CONC "$DURATION"
    for n in 1k 100k; do
      ln -sf "$WORK/peer-$alg-$n.tokens" "$WORK/$peer-$alg-$n.tokens"
    done
    distinct_loads "$peer-$alg"
    if [ "$alg" = ES256 ]; then
      USERS=$BENCH_USERS PASSWORD=$PASSWORD load "$peer-$alg.login" "POST /auth/login" login /auth/login 16 "$DURATION"
    fi
    stop
  done
done

ceiling ceiling-end.verify "the ES256 token, again at the end" "$ES_TOKEN"

# ---------------------------------------------------------------- report
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$SECONDS
best_peer() { # ALG [LOAD] → "name rps" (LOAD: verify, verify-1k, verify-100k); a load with errors does not count
  local best=0 name="" p rps
  for p in express flask fastapi; do
    rps=${FIG[$p-$1.${2:-verify}.rps]:-0}
    if [ "${FIG[$p-$1.${2:-verify}.errors]:-0}" -gt 0 ]; then rps=0; fi
    if [ "$rps" -gt "$best" ]; then best=$rps; name=$p; fi
  done
  echo "$name $best"
}
mark() { if awk "BEGIN {exit !($1)}"; then echo "**met**"; else echo "**not met**"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "—"; else printf "%.2f", a / b}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "—"; else printf "%.0f%%", 100 * a / b}'; }
CEIL=${FIG[ceiling-es256.verify.rps]}
CEIL_HS=${FIG[ceiling-hs256.verify.rps]}
read -r BEST_ES BEST_ES_RPS <<<"$(best_peer ES256)"
read -r BEST_HS BEST_HS_RPS <<<"$(best_peer HS256)"
read -r BEST_ES_100K BEST_ES_100K_RPS <<<"$(best_peer ES256 verify-100k)"
read -r BEST_HS_100K BEST_HS_100K_RPS <<<"$(best_peer HS256 verify-100k)"
ES_100K=${FIG[tessera-es256.verify-100k.rps]}
HS_100K=${FIG[tessera-hs256.verify-100k.rps]}
REFRESH_P99=${FIG[tessera-es256.refresh.p99]}
REFRESH_PG=${FIG[tessera-es256-pg.refresh.rps]}
ES=${FIG[tessera-es256.verify.rps]}
HS=${FIG[tessera-hs256.verify.rps]}
ES_P99=${FIG[tessera-es256.verify.p99]}
HS_P99=${FIG[tessera-hs256.verify.p99]}
DURING_P99=${FIG[tessera-es256.during.p99]}
LOGIN=${FIG[tessera-es256.login.rps]}
REFRESH=${FIG[tessera-es256.refresh.rps]}
IDLE=${FIG[tessera-es256.idle_rss]}
START=${FIG[tessera-es256.startup]}
BIG=$SCALE_USERS

{
  echo "# bench/run.sh results"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| started | $STARTED_AT, took $((ELAPSED / 60)) min $((ELAPSED % 60)) s |"
  echo "| code | \`$(git -C "$ROOT" rev-parse --short HEAD)\`$(git -C "$ROOT" diff --quiet HEAD -- crates bench || echo ' (with uncommitted changes)') |"
  echo "| machine | $(nproc --all) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r) |"
  echo "| layout | servers on CPU $SERVER_CPU (\`taskset -c $SERVER_CPU\`), wrk 1 thread on CPU $LOAD_CPU; loads of $DURATION s, GET loads after $WARMUP s of unmeasured warm-up |"
  echo "| load average (1, 5, 15 min) | before: $LOAD_BEFORE; after: $LOAD_AFTER |"
  echo "| versions | $(rustc --version | cut -d' ' -f1-2), node $(node --version), $(python3 --version), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2) |"
  echo
  echo "## Loads"
  echo
  echo "Latencies in ms; errors are answers with a status of 400 or more (every scenario expects 200) plus socket errors; CPU is the server's user + system time (all its processes) per 1,000 requests; RSS in MiB (all its processes): idle after start-up, and the peak sampled every 0.1 s during the load."
  echo
  echo "| scenario | server | conns | req/s | p50 | p99 | max | errors | CPU-s / 1k req | idle RSS | peak RSS |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  cat "$RESULTS"
  echo
  echo "## Start-up and memory"
  echo
  echo "| server | start-up to first 200 on /readyz (ms) | idle RSS (MiB) | |"
  echo "|---|---|---|---|"
  cat "$STARTS"
  echo
  echo "- Hash limit (\`hashrate\`, one thread on CPU $SERVER_CPU): **$HASH_RATE Argon2id hashes/s** ($HASH_MS ms each) at m=19456 KiB, t=2, p=1."
  echo "- Verification limit (\`verifyrate\`, one thread on CPU $SERVER_CPU, aws-lc-rs with the key parsed beforehand, nothing but the signature): at the start of the run **$ES_LIMIT ES256** verifications/s of one signature again and again, **$ES_LIMIT_DISTINCT** of 100,000 different signatures in turn, and **$HS_LIMIT HS256**; the 100,000 different ES256 signatures **$ES_LIMIT_BEFORE** and **$ES_LIMIT_AFTER**/s right before and right after the loads of distinct ES256 tokens."
  echo "- Tessera ES256 RSS after the login flood, 4 s after it ended: $(mib "$AFTER_FLOOD_RSS") MiB; peak during the flood: $(mib "$FLOOD_PEAK") MiB."
  echo "- Drift: the ceiling with the ES256 token gave ${FIG[ceiling-es256.verify.rps]} req/s right after Tessera ES256 and ${FIG[ceiling-end.verify.rps]} at the end of the run ($(pct "${FIG[ceiling-end.verify.rps]}" "${FIG[ceiling-es256.verify.rps]}"))."
  echo "- Seeding: 1,000 users in ${FIG[seed.1000]} s, $BIG users in ${FIG[seed.$BIG]} s."
  echo
  echo "## Mixed load"
  echo
  echo "Tessera ES256 on SQLite, $CONC clients for $DURATION s (\`mixed\`, on CPU $LOAD_CPU): of every 100 requests 90 verify one of 1,000 distinct tokens, 8 rotate the client's refresh token, 2 log in. Latencies in ms. The server used $(awk -v t="$MIXED_CPU" -v hz="$HZ" -v r="$MIXED_REQUESTS" 'BEGIN {printf "%.4f", t / hz / r * 1000}') CPU-s per 1,000 requests."
  echo
  echo "| endpoint | requests | req/s | p50 | p99 | max | errors |"
  echo "|---|---|---|---|---|---|---|"
  awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7}' "$WORK/mixed.txt"
  echo
  echo "## Goals"
  echo
  echo "| goal | figure | |"
  echo "|---|---|---|"
  echo "| /auth/verify ES256 ≥ 70% of the ceiling (same token, measured right after) | $ES vs $CEIL req/s = $(pct "$ES" "$CEIL") | $(mark "$ES >= 0.7 * $CEIL") |"
  echo "| /auth/verify HS256 ≥ 70% of the ceiling (same token, measured right after) | $HS vs $CEIL_HS req/s = $(pct "$HS" "$CEIL_HS") | $(mark "$HS >= 0.7 * $CEIL_HS") |"
  echo "| /auth/verify p99 < 5 ms at c=$CONC | ES256 $(ms "$ES_P99") ms, HS256 $(ms "$HS_P99") ms | $(mark "$ES_P99 < 5000 && $HS_P99 < 5000") |"
  echo "| /auth/verify ES256 ≥ 5× the best peer | $ES vs $BEST_ES_RPS ($BEST_ES) = $(ratio "$ES" "$BEST_ES_RPS")× | $(mark "$ES >= 5 * $BEST_ES_RPS") |"
  echo "| /auth/verify HS256 ≥ 5× the best peer | $HS vs $BEST_HS_RPS ($BEST_HS) = $(ratio "$HS" "$BEST_HS_RPS")× | $(mark "$HS >= 5 * $BEST_HS_RPS") |"
  echo "| login ≥ 85% of the hash limit | $LOGIN vs $HASH_RATE logins/s = $(pct "$LOGIN" "$HASH_RATE") | $(mark "$LOGIN >= 0.85 * $HASH_RATE") |"
  echo "| login memory bounded (flood peak < 100 MiB) | peak $(mib "$FLOOD_PEAK") MiB in a flood of 256 connections, $(mib "$AFTER_FLOOD_RSS") MiB after | $(mark "$FLOOD_PEAK < 100 * 1024") |"
  echo "| verify p99 during the login flood ≤ 2× idle | $(ms "$DURING_P99") vs $(ms "$ES_P99") ms = $(ratio "$DURING_P99" "$ES_P99")× | $(mark "$DURING_P99 <= 2 * $ES_P99") |"
  echo "| /auth/verify ES256, 100,000 distinct tokens ≥ 80% of the verification limit (100,000 different signatures, the higher of the two taken right before and after) | $ES_100K vs $ES_LIMIT_NEAR/s = $(pct "$ES_100K" "$ES_LIMIT_NEAR") (start of the run: $ES_LIMIT_DISTINCT/s, $(pct "$ES_100K" "$ES_LIMIT_DISTINCT"); one signature again and again: $ES_LIMIT/s, $(pct "$ES_100K" "$ES_LIMIT")) | $(mark "$ES_100K >= 0.8 * $ES_LIMIT_NEAR") |"
  echo "| /auth/verify ES256, 100,000 distinct tokens ≥ 3× the best peer's | $ES_100K vs $BEST_ES_100K_RPS ($BEST_ES_100K) = $(ratio "$ES_100K" "$BEST_ES_100K_RPS")× | $(mark "$ES_100K >= 3 * $BEST_ES_100K_RPS") |"
  echo "| /auth/verify HS256, 100,000 distinct tokens ≥ 3× the best peer's | $HS_100K vs $BEST_HS_100K_RPS ($BEST_HS_100K) = $(ratio "$HS_100K" "$BEST_HS_100K_RPS")× (verification limit $HS_LIMIT/s: $(pct "$HS_100K" "$HS_LIMIT")) | $(mark "$HS_100K >= 3 * $BEST_HS_100K_RPS") |"
  echo "| refresh ≥ 2,000/s on SQLite and on PostgreSQL | SQLite $REFRESH/s, ${FIG[tessera-es256.refresh.errors]} errors; PostgreSQL $REFRESH_PG/s, ${FIG[tessera-es256-pg.refresh.errors]} errors | $(mark "$REFRESH >= 2000 && $REFRESH_PG >= 2000 && ${FIG[tessera-es256.refresh.errors]} + ${FIG[tessera-es256-pg.refresh.errors]} == 0") |"
  echo "| refresh p99 < 10 ms at c=$CONC on SQLite | $(ms "$REFRESH_P99") ms | $(mark "$REFRESH_P99 < 10000") |"
  echo "| idle RSS < 20 MB | $(mib "$IDLE") MiB = $(awk -v k="$IDLE" 'BEGIN {printf "%.1f", k * 1024 / 1e6}') MB | $(mark "$IDLE * 1024 < 20000000") |"
  echo "| start-up < 100 ms | $START ms | $(mark "$START < 100") |"
  for what in login first last; do
    small=${FIG[scale-1000.$what.rps]}
    large=${FIG[scale-$BIG.$what.rps]}
    errors=$((${FIG[scale-1000.$what.errors]} + ${FIG[scale-$BIG.$what.errors]}))
    echo "| $what with $BIG users ≥ 75% of with 1,000, no errors | $large vs $small req/s = $(pct "$large" "$small"), $errors errors | $(mark "$large >= 0.75 * $small && $errors == 0") |"
  done
  small=${FIG[tessera-1000-users.startup]}
  large=${FIG[tessera-$BIG-users.startup]}
  echo "| start-up with $BIG users < 100 ms | $large ms (1,000 users: $small ms) | $(mark "$large < 100") |"
} >"$OUT/results.md"
cat "$OUT/results.md"
