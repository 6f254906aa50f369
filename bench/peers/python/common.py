"""What the Flask and FastAPI peers share: configuration from the
environment, the bench users, Argon2id at Tessera's parameters, and token
signing and verification with PyJWT (algorithm pinned, issuer, audience and
expiry checked), as PyJWT's documentation shows.

Environment: PEER_ALG (HS256 | ES256), PEER_HS_SECRET, PEER_EC_KEY (path to
a PKCS#8 PEM P-256 private key), PEER_ISSUER, PEER_AUDIENCE, PEER_USERS (how
many bench users), PEER_PASSWORD (their password). Users are bench-user-0000000,
bench-user-0000001, …
"""

import os
import re
import secrets
import time
import uuid

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.serialization import load_pem_private_key

ALG = os.environ.get("PEER_ALG", "HS256")
ISSUER = os.environ.get("PEER_ISSUER", "http://peer.bench.test")
AUDIENCE = os.environ.get("PEER_AUDIENCE", ISSUER)
USER_COUNT = int(os.environ.get("PEER_USERS", "64"))
PASSWORD = os.environ.get("PEER_PASSWORD", "a long passphrase for load tests")
TTL = 900
LEEWAY = 60

if ALG == "HS256":
    SIGN_KEY = VERIFY_KEY = os.environ["PEER_HS_SECRET"].encode()
elif ALG == "ES256":
    with open(os.environ["PEER_EC_KEY"], "rb") as f:
        SIGN_KEY = load_pem_private_key(f.read(), password=None)
    VERIFY_KEY = SIGN_KEY.public_key()
else:
    raise SystemExit(f"PEER_ALG must be HS256 or ES256, not {ALG}")

# Argon2id at Tessera's parameters (OWASP: m=19 MiB, t=2, p=1).
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Every bench user has the same password; one hash serves them all, and each
# login still runs one full Argon2id verification.
_HASH = HASHER.hash(PASSWORD)
USERS = {
    f"bench-user-{i:07d}": {"id": str(uuid.uuid4()), "hash": _HASH, "roles": ["user"]}
    for i in range(USER_COUNT)
}
# Unknown users are checked against a hash too, so both answers take as long.
_DUMMY = HASHER.hash(secrets.token_hex(16))

BEARER = re.compile(r"^Bearer ([A-Za-z0-9._~+/=-]+)$", re.IGNORECASE)


def login(body):
    """The token response for a JSON body, or None for bad credentials."""
    if not isinstance(body, dict):
        return None
    username, given = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(given, str):
        return None
    user = USERS.get(username.lower())
    try:
        ok = HASHER.verify(user["hash"] if user else _DUMMY, given)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not user or not ok:
        return None
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": user["id"],
        "aud": AUDIENCE,
        "exp": now + TTL,
        "iat": now,
        "nbf": now,
        "jti": str(uuid.uuid4()),
        "username": username,
        "roles": user["roles"],
    }
    token = jwt.encode(claims, SIGN_KEY, algorithm=ALG, headers={"typ": "at+jwt"})
    return {"access_token": token, "token_type": "Bearer", "expires_in": TTL}


def verify(authorization):
    """The forward-auth headers for an Authorization header, or None."""
    match = BEARER.match(authorization or "")
    if not match:
        return None
    try:
        claims = jwt.decode(
            match.group(1),
            VERIFY_KEY,
            algorithms=[ALG],
            issuer=ISSUER,
            audience=AUDIENCE,
            leeway=LEEWAY,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.InvalidTokenError:
        return None
    return {
        "X-Auth-Subject": str(claims["sub"]),
        "X-Auth-Username": str(claims.get("username", "")),
        "X-Auth-Roles": ",".join(claims.get("roles", [])),
    }
