#!/usr/bin/env python3
"""Does `POST /auth/password-reset` take the same time whatever it names?

Starts its own Tessera (BIN, default target/release/tessera) on SQLite in a
temporary directory, mailing to a relay that is not there (delivery happens
off the request, so the relay does not matter to the answer). Makes three
accounts: one with a confirmed address ("known"), one whose confirmed
address belongs to a disabled account ("disabled"), one whose address is
not confirmed ("unconfirmed"); then asks N times for each of them and for
an address nobody has ("unknown"), interleaved in a random order, one
request at a time on one kept-alive connection, each from its own client
address (X-Forwarded-For from a trusted proxy) so the per-IP limit stays out
of the way. Prints p50, p90, p99 and the maximum per kind in milliseconds,
and the body and status each got. Python's standard library only.

    cargo build --release -p tessera && N=400 python3 bench/reset-timing.py
"""
import http.client
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time

BIN = os.environ.get("BIN", "target/release/tessera")
N = int(os.environ.get("N", "400"))
PASSWORD = "correct horse battery staple 9"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    work = tempfile.mkdtemp(prefix="tessera-reset-timing.")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update({
        "TESSERA_BIND": f"127.0.0.1:{port}",
        "TESSERA_DATABASE_URL": f"sqlite://{work}/tessera.db",
        "TESSERA_SMTP_URL": f"smtp://127.0.0.1:{free_port()}?tls=none",
        "TESSERA_MAIL_FROM": "Bench <bench@tessera.test>",
        "TESSERA_TRUSTED_PROXIES": "127.0.0.1/32",
        "TESSERA_REGISTRATION_RATE": "100000/s",
        "TESSERA_LOG": "error",
    })
    server = subprocess.Popen([os.path.abspath(BIN), "serve"], cwd=work, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = None
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/readyz")
                if conn.getresponse().read() is not None:
                    break
            except OSError:
                time.sleep(0.1)

        def post(path, body, ip="10.0.0.1"):
            conn.request("POST", path, json.dumps(body),
                         {"content-type": "application/json", "x-forwarded-for": ip})
            answer = conn.getresponse()
            return answer.status, answer.read()

        for name in ("known", "disabled", "unconfirmed"):
            status, _ = post("/auth/register", {"username": name, "password": PASSWORD,
                                                "email": f"{name}@example.com"})
            assert status == 201, (name, status)
        db = sqlite3.connect(f"{work}/tessera.db")
        db.execute("UPDATE users SET email_verified = 1 WHERE username IN ('known', 'disabled')")
        db.execute("UPDATE users SET disabled = 1 WHERE username = 'disabled'")
        db.commit()
        db.close()
        asks = {
            "known": {"email": "known@example.com"},
            "disabled": {"email": "disabled@example.com"},
            "unconfirmed": {"email": "unconfirmed@example.com"},
            "unknown": {"email": "nobody@example.com"},
        }
        order = [kind for kind in asks for _ in range(N)]
        random.shuffle(order)
        times = {kind: [] for kind in asks}
        answers = {kind: set() for kind in asks}
        for i, kind in enumerate(order):
            start = time.perf_counter()
            status, body = post("/auth/password-reset", asks[kind],
                                ip=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}")
            times[kind].append((time.perf_counter() - start) * 1000)
            answers[kind].add((status, body))
        print(f"POST /auth/password-reset, {N} each, interleaved, one connection")
        print(f"{'kind':<12} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}   answer")
        for kind, ms in times.items():
            q = statistics.quantiles(ms, n=100)
            answer = "; ".join(f"{s} {b.decode()}" for s, b in sorted(answers[kind]))
            print(f"{kind:<12} {q[49]:7.3f} {q[89]:7.3f} {q[98]:7.3f} {max(ms):7.3f}   {answer}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
