#!/usr/bin/env python3
"""Sign-in latency with and without a second factor, one client at a time.

Against a running Tessera (BASE, default http://127.0.0.1:8080) with its
production password hashing: N sign-ins of a person with a password alone
(POST /auth/login), and N of a person with an authenticator app, who signs
in with the password (POST /auth/login: 401 mfa_required) and then a
recovery code (POST /auth/login/mfa; a code works once, so new sets are
made between rounds, outside the timing). Prints p50, p90 and the maximum
of each step in milliseconds. Python's standard library only.

    BASE=http://127.0.0.1:8080 N=40 python3 bench/mfa-latency.py
"""
import json
import os
import statistics
import time
import urllib.error
import urllib.request

BASE = os.environ.get("BASE", "http://127.0.0.1:8080")
N = int(os.environ.get("N", "40"))
PASSWORD = "correct horse battery staple 9"


def post(path, body, token=None):
    request = urllib.request.Request(
        BASE + path, data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


def timed(path, body):
    start = time.perf_counter()
    status, answer = post(path, body)
    return (time.perf_counter() - start) * 1000, status, answer


def summary(name, samples):
    ordered = sorted(samples)
    p90 = ordered[max(0, int(len(ordered) * 0.9) - 1)]
    print(f"| {name} | {len(ordered)} | {statistics.median(ordered):.1f} | {p90:.1f} | {ordered[-1]:.1f} |")


def totp_code(secret_b32):
    import base64, hmac, hashlib, struct
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(time.time() // 30)), hashlib.sha1).digest()
    offset = mac[19] & 15
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000:06d}"


def main():
    suffix = str(int(time.time()))[-6:]
    plain, strong = f"plain{suffix}", f"strong{suffix}"
    for name in (plain, strong):
        status, _ = post("/auth/register", {"username": name, "password": PASSWORD})
        assert status == 201, f"register {name}: {status}"
    _, session = post("/auth/login", {"username": strong, "password": PASSWORD})
    token = session["access_token"]
    _, started = post("/me/factors/totp", {"password": PASSWORD}, token)
    factor = started["factor"]["id"]
    status, confirmed = post(f"/me/factors/totp/{factor}/confirm", {"code": totp_code(started["secret"])}, token)
    assert status == 200, confirmed
    codes = list(confirmed["recovery_codes"])

    password_alone, first, second, whole = [], [], [], []
    for i in range(N):
        ms, status, _ = timed("/auth/login", {"username": plain, "password": PASSWORD})
        assert status == 200, status
        password_alone.append(ms)
        if not codes:
            _, fresh = post("/me/recovery-codes", {"password": PASSWORD}, token)
            codes = list(fresh["recovery_codes"])
        ms1, status, answer = timed("/auth/login", {"username": strong, "password": PASSWORD})
        assert status == 401 and answer["error"]["code"] == "mfa_required", answer
        ms2, status, answer = timed("/auth/login/mfa", {"mfa_token": answer["error"]["mfa_token"], "code": codes.pop()})
        assert status == 200, answer
        first.append(ms1)
        second.append(ms2)
        whole.append(ms1 + ms2)

    print(f"{N} sign-ins each, one at a time, against {BASE}")
    print()
    print("| sign-in | n | p50 ms | p90 ms | max ms |")
    print("|---|---|---|---|---|")
    summary("password alone (`POST /auth/login` → tokens)", password_alone)
    summary("with a factor, step 1 (`POST /auth/login` → `mfa_required`)", first)
    summary("with a factor, step 2 (`POST /auth/login/mfa`, a recovery code)", second)
    summary("with a factor, both steps", whole)


if __name__ == "__main__":
    main()
