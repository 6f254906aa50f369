#!/usr/bin/env bash
# The contract suite: schemathesis reads the running Tessera's /openapi.json
# and sends every operation generated requests, valid and invalid, with every
# check it has (no server error; status codes, content types, headers and
# bodies as documented; schema-valid data accepted, invalid data refused;
# authentication not ignored). The allowances are in schemathesis.toml.
#
# Usage: run.sh PYTHON (a Python with interop/contract/requirements.txt),
# with TESSERA_ISSUER, TESSERA_ADMIN_USERNAME and TESSERA_ADMIN_PASSWORD set
# (interop/run.sh runs it against its server). Operations run as the admin;
# those that can end the caller's own session run last, in a session of
# their own. TESSERA_CONTRACT_SEED replays a run; TESSERA_CONTRACT_EXAMPLES
# (default 30) sets how many cases each operation gets. Prints one PASS or
# FAIL line per run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=$1
schemathesis=$(dirname "$python")/schemathesis
seed=${TESSERA_CONTRACT_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}

admin_token() {
  TESSERA_ISSUER=$TESSERA_ISSUER "$python" - <<'EOF'
import json, os, urllib.request
body = json.dumps({"username": os.environ["TESSERA_ADMIN_USERNAME"],
                   "password": os.environ["TESSERA_ADMIN_PASSWORD"]}).encode()
request = urllib.request.Request(os.environ["TESSERA_ISSUER"] + "/auth/login", data=body,
                                 headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request, timeout=10))["access_token"])
EOF
}

# contract NAME ARGS...: one schemathesis run, its output shown and summed up.
failed=0
contract() {
  local name=$1 log rc
  shift
  log=$(mktemp)
  set +e
  "$schemathesis" --config-file "$here/schemathesis.toml" run "$TESSERA_ISSUER/openapi.json" \
    --checks all --max-examples "${TESSERA_CONTRACT_EXAMPLES:-30}" --seed "$seed" --workers 2 --no-color "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  local cases
  cases=$(grep -Eo '[0-9]+ generated' "$log" | tail -n 1 || true)
  if [ "$rc" = 0 ]; then
    echo "PASS contract $name: ${cases:-0 generated} cases, seed $seed"
  else
    echo "FAIL contract $name: schemathesis exited $rc (seed $seed)"
    failed=1
  fi
  rm -f "$log"
}

# Both sessions are opened first: the generated logins with wrong passwords
# soon lock this address out of signing in (429).
admin=$(admin_token)
leaving=$(admin_token)
contract "every operation as the admin" -H "Authorization: Bearer $admin" \
  --exclude-path /auth/logout --exclude-path /auth/logout-all --exclude-path /sessions/{id}
contract "signing out" -H "Authorization: Bearer $leaving" \
  --include-path /auth/logout --include-path /auth/logout-all --include-path /sessions/{id}
exit $failed
