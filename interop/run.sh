#!/usr/bin/env bash
# Proof with real clients (SPEC §8): builds Tessera (release), installs
# the pinned Python (PyPI) and Node (npm) packages, starts one Tessera on a
# free loopback port in a temporary directory with a bootstrap admin, and runs
#   interop/python/test_interop.py  authlib, PyJWT, websockets
#   interop/node/interop.mjs        openid-client, jose
#   interop/check_docs.py           docs/sso.md quotes the snippets they run
#   interop/browser/pages.mjs       the pages in Chromium (Playwright, axe-core)
#   interop/browser/factors.mjs     second factors and passkeys in Chromium
#   interop/browser/email.mjs       mailed links in Chromium (aiosmtpd is the relay)
#   interop/contract/run.sh         schemathesis against /openapi.json
# Each suite registers the clients and the user it needs through the admin API.
# Prints a summary; exits non-zero if anything failed. The server is always
# stopped. Needs cargo, python3 (with venv), node, npm and Chromium
# (/usr/bin/chromium, or CHROMIUM).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
interop=$root/interop
started=$SECONDS

say() { printf '== %s\n' "$*"; }
elapsed() { echo $((SECONDS - $1)); }

workdir=$(mktemp -d "${TMPDIR:-/tmp}/tessera-interop.XXXXXX")
server_pid=""
smtp_pid=""
cleanup() {
  if [ -n "$smtp_pid" ]; then kill "$smtp_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ---------------------------------------------------------------------
t=$SECONDS
# The release build, as deployed (`cargo run --release`).
say "building tessera (release)"
timeout 1800 cargo build --release -p tessera --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target_dir/release/tessera
[ -x "$bin" ] || { echo "no binary at $bin" >&2; exit 1; }
t_build=$(elapsed $t)

# --- pinned packages -------------------------------------------------------------
t=$SECONDS
say "installing Python packages (interop/python, interop/contract requirements.txt)"
venv=$interop/.venv
if ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
fi
timeout 600 "$venv/bin/python" -m pip install --disable-pip-version-check -q \
  -r "$interop/python/requirements.txt"
contract_venv=$interop/contract/.venv
if ! "$contract_venv/bin/python" -c 'import sys' 2>/dev/null; then
  rm -rf "$contract_venv"
  python3 -m venv "$contract_venv"
fi
timeout 600 "$contract_venv/bin/python" -m pip install --disable-pip-version-check -q \
  -r "$interop/contract/requirements.txt"
t_pip=$(elapsed $t)

t=$SECONDS
say "installing Node packages (interop/node, interop/browser package-lock.json)"
(cd "$interop/node" && timeout 600 npm ci --no-audit --no-fund --loglevel=error)
(cd "$interop/browser" && timeout 600 npm ci --no-audit --no-fund --loglevel=error)
t_npm=$(elapsed $t)

# --- one Tessera -------------------------------------------------------------------
t=$SECONDS
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
issuer=http://127.0.0.1:$port
# Passkeys need a domain name: the pages are also reached at localhost.
public_url=http://localhost:$port
admin_password="interop-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# A real SMTP server for the mail Tessera sends: aiosmtpd keeps each mail as a
# file of a Maildir the browser suite reads.
smtp_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
maildir=$workdir/mail
"$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$maildir" \
  >"$workdir/smtp.log" 2>&1 &
smtp_pid=$!
say "starting tessera on $issuer (in $workdir)"
# Nothing from the caller's environment configures this server.
unset_tessera=()
while read -r name; do unset_tessera+=(-u "$name"); done < <(compgen -e | grep '^TESSERA_' || true)
(
  cd "$workdir"
  exec env "${unset_tessera[@]}" TESSERA_BIND="127.0.0.1:$port" TESSERA_PUBLIC_URL="$public_url" \
    TESSERA_ADMIN_USERNAME=admin TESSERA_SMTP_URL="smtp://127.0.0.1:$smtp_port?tls=none" \
    TESSERA_MAIL_FROM="Tessera <login@tessera.test>" \
    TESSERA_ADMIN_PASSWORD="$admin_password" TESSERA_LOG=warn "$bin" serve
) >"$workdir/tessera.log" 2>&1 &
server_pid=$!
ready=""
for _ in $(seq 1 150); do
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  if python3 -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('$issuer/readyz', timeout=2).status != 200)" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "tessera did not become ready; its log:" >&2
  cat "$workdir/tessera.log" >&2
  exit 1
fi
t_start=$(elapsed $t)

# --- the suites ------------------------------------------------------------------------
export TESSERA_ISSUER=$issuer TESSERA_PUBLIC_URL=$public_url TESSERA_ADMIN_USERNAME=admin \
  TESSERA_ADMIN_PASSWORD=$admin_password TESSERA_MAILDIR=$maildir

# run_suite NAME COMMAND...: runs it with a time limit, output to the terminal
# and to $workdir/NAME.log; a non-zero exit without any FAIL line counts as one.
declare -A took exit_code
run_suite() {
  local name=$1 t=$SECONDS rc
  shift
  say "$name"
  set +e
  timeout 180 "$@" 2>&1 | tee "$workdir/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  took[$name]=$(elapsed $t)
  exit_code[$name]=$rc
}
run_suite python "$venv/bin/python" "$interop/python/test_interop.py"
run_suite node node "$interop/node/interop.mjs"
run_suite docs python3 "$interop/check_docs.py"
TESSERA_SCREENSHOTS=$root/target/screenshots run_suite browser node "$interop/browser/pages.mjs"
TESSERA_SCREENSHOTS=$root/target/screenshots run_suite factors node "$interop/browser/factors.mjs"
TESSERA_SCREENSHOTS=$root/target/screenshots run_suite email node "$interop/browser/email.mjs"
# Last: it changes the server's state at random (users, clients, keys).
run_suite contract bash "$interop/contract/run.sh" "$contract_venv/bin/python"

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "tessera exited during the run; its log:" >&2
  cat "$workdir/tessera.log" >&2
  exit_code[server]=1
fi
if grep -qiE '(panic|ERROR)' "$workdir/tessera.log"; then
  say "tessera logged errors:"
  grep -iE '(panic|ERROR)' "$workdir/tessera.log" | head -20
fi

# --- summary ----------------------------------------------------------------------------
pyver=$("$venv/bin/python" -c 'import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in ("Authlib", "requests", "PyJWT", "cryptography", "websockets")))')
nodever=$(cd "$interop/node" && node -p '["openid-client", "jose", "oauth4webapi"].map(p => `${p} ${require(`./node_modules/${p}/package.json`).version}`).join(", ")')
declare -A label=(
  [python]="python ($pyver)"
  [node]="node $(node --version) ($nodever)"
  [docs]="docs/sso.md snippets"
  [browser]="browser ($(/usr/bin/chromium --version 2>/dev/null | tr -d '\n'), screenshots in target/screenshots)"
  [factors]="second factors in the browser (TOTP, Chromium's virtual authenticator)"
  [email]="mailed links in the browser (aiosmtpd $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("aiosmtpd"))'))"
  [contract]="contract ($("$contract_venv/bin/schemathesis" --version 2>/dev/null | tr -d '\n'))"
)
total_pass=0
total_fail=0
echo
say "interop summary"
for name in python node docs browser factors email contract; do
  pass=$(grep -c '^PASS ' "$workdir/$name.log" || true)
  fail=$(grep -c '^FAIL ' "$workdir/$name.log" || true)
  if [ "${exit_code[$name]}" != 0 ] && [ "$fail" = 0 ]; then
    fail=1
    echo "FAIL $name: the suite exited ${exit_code[$name]} (124 = time limit)"
  fi
  echo "${label[$name]}: $pass passed, $fail failed (${took[$name]}s)"
  grep -E '^(PASS|FAIL) ' "$workdir/$name.log" | sed 's/^/  /' || true
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
done
if [ "${exit_code[server]:-0}" != 0 ]; then total_fail=$((total_fail + 1)); fi
echo "timings: build ${t_build}s, pip ${t_pip}s, npm ${t_npm}s, server start ${t_start}s, total $(elapsed $started)s"
echo "interop: $total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
