#!/usr/bin/env bash
# The Debian package: built with cargo-deb from the release binary, installed
# with dpkg -i, its unit checked with systemd-analyze (where the tool
# exists), the binary started as the unit starts it (the environment file,
# the state directory, an unprivileged user that can gain nothing), /readyz
# checked, then the package removed and purged. Needs root (dpkg).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deb >/dev/null; then
  echo "installing cargo-deb"
  cargo install cargo-deb --locked --quiet
fi
cargo build --release -p tessera --quiet
cargo deb -p tessera --no-build --quiet
# cargo-deb writes under the target directory, wherever CARGO_TARGET_DIR puts it.
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
deb=$(ls -t "$target_dir"/debian/tessera_*.deb | head -n 1)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n 's/^ *\(Package\|Version\|Architecture\|Depends\):/  &/p'

state=/var/lib/tessera
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  dpkg -P tessera >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT

dpkg -i "$deb" >/dev/null
test -x /usr/bin/tessera
test -f /lib/systemd/system/tessera.service
test -f /etc/tessera/tessera.env
/usr/bin/tessera --version
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/tessera.service
  echo "systemd-analyze verify: ok"
fi

# As the unit runs it: EnvironmentFile (KEY=VALUE lines, # comments),
# StateDirectory (owned by the service's user, 0700) as the working
# directory, no privileges to gain. DynamicUser's user is stood in for by
# nobody.
mkdir -p "$state"
chown nobody:nogroup "$state"
chmod 0700 "$state"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(
  cd "$state"
  while IFS= read -r line; do
    case $line in '' | '#'*) continue ;; esac
    export "${line?}"
  done </etc/tessera/tessera.env
  export TESSERA_BIND="127.0.0.1:$port"
  exec setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs /usr/bin/tessera serve
) >"$state.log" 2>&1 &
pid=$!
ready=""
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then ready=1; break; fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "the packaged tessera did not become ready:" >&2
  cat "$state.log" >&2
  exit 1
fi
owner=$(stat -c %U "$state/tessera.db")
[ "$owner" = nobody ] || { echo "the database belongs to $owner" >&2; exit 1; }
echo "readyz: ok; the database is $state/tessera.db, owned by $owner"
kill "$pid"
wait "$pid" || true
pid=""
rm -f "$state.log"

dpkg -r tessera >/dev/null
test ! -e /usr/bin/tessera
test -f /etc/tessera/tessera.env # a conffile stays until purged
dpkg -P tessera >/dev/null
test ! -e /etc/tessera/tessera.env
echo "package: installed, served, removed and purged"
