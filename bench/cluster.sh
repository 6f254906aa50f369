#!/usr/bin/env bash
# Several replicas under faults (docs/operations.md), against release builds
# on 127.0.0.1. Runs as root: the PostgreSQL server of the run's own runs as
# the `postgres` user. Needs nginx (apt-get install nginx). Everything
# started here stops when the run ends.
#
#   bench/cluster.sh                         every fault, 3 replicas, 10 s outages
#   bench/cluster.sh --faults kill,link-cut  some of them
#   bench/cluster.sh --short                 the test suite's timings
#   bench/cluster.sh --scale                 write throughput with 1, 2, 3 replicas
#
# Other flags go to the `cluster` tool (bench/src/bin/cluster.rs):
# --replicas N, --workers N, --sizes 1,2,3, --seconds S.
#
# Environment (optional):
#   SKIP_BUILD=1        use the release binaries already in target/
#   FROM_REV=<git rev>  the fleet starts as that build and the rolling
#                       restart moves it onto this one (built in a
#                       worktree, target/cluster-from)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -p tessera -p tessera-bench
fi
args=(--tessera target/release/tessera)
if [ -n "${FROM_REV:-}" ]; then
  from=target/cluster-from
  git worktree remove --force "$from" 2>/dev/null || rm -rf "$from"
  git worktree add --force --detach "$from" "$FROM_REV"
  (cd "$from" && CARGO_TARGET_DIR="$PWD/target" cargo build --release -p tessera)
  args=(--tessera "$from/target/release/tessera" --next-tessera target/release/tessera)
fi
exec target/release/cluster "${args[@]}" "$@"
