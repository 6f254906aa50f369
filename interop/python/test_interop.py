"""Tessera against real Python OAuth/OIDC libraries.

authlib's OAuth2Session runs the password, client_credentials, refresh_token
and authorization-code + PKCE grants (the login page driven with plain HTTP
requests, as a browser would), then single sign-on for a second client;
PyJWT's PyJWKClient verifies the access and ID tokens from the JWKS by
itself. Also: userinfo, introspection, revocation, RP-initiated logout, and
the `/events` stream (websockets) seen by a client holding `events:read`.

Environment: TESSERA_ISSUER (the running Tessera, which is also its issuer),
TESSERA_ADMIN_USERNAME and TESSERA_ADMIN_PASSWORD (an admin, to register the
clients and the user this suite needs). Each check prints `PASS python: …` or
`FAIL python: …`; the exit status is 1 if any failed.

The blocks between `BEGIN docs/sso.md NAME` and `END docs/sso.md NAME` are
quoted in docs/sso.md, and interop/check_docs.py fails when they drift apart.
"""

import base64
import json
import secrets
import sys
import time
import traceback
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin

from authlib.integrations.requests_client import OAuthError
from websockets.sync.client import connect as ws_connect

# BEGIN docs/sso.md python-verify
import os

import jwt  # PyJWT, installed as PyJWT[crypto]

ISSUER = os.environ.get("TESSERA_ISSUER", "http://127.0.0.1:8080")
# One client per process: it caches the keys and refetches on an unknown kid.
jwks = jwt.PyJWKClient(f"{ISSUER}/.well-known/jwks.json", cache_keys=True, lifespan=300)


def verify_access_token(token: str) -> dict:
    """The claims of a valid Tessera access token; raises jwt.InvalidTokenError."""
    header = jwt.get_unverified_header(token)
    if header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
        raise jwt.InvalidTokenError("not an access token (typ)")
    key = jwks.get_signing_key(header["kid"]).key
    return jwt.decode(
        token,
        key,
        algorithms=["ES256"],  # TESSERA_JWT_ALG, pinned: never read from the token
        audience=ISSUER,  # TESSERA_AUDIENCE, which defaults to the issuer
        issuer=ISSUER,
        leeway=60,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )


def verify_id_token(token: str, client_id: str, nonce: str | None) -> dict:
    """The claims of an ID token issued to client_id; raises jwt.InvalidTokenError."""
    claims = jwt.decode(
        token,
        jwks.get_signing_key_from_jwt(token).key,
        algorithms=["RS256"],  # unless the client registered another algorithm
        audience=client_id,
        issuer=ISSUER,
        leeway=60,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    if claims.get("nonce") != nonce:
        raise jwt.InvalidTokenError("nonce does not match the authorization request")
    return claims
# END docs/sso.md python-verify

# BEGIN docs/sso.md python-client
from urllib.parse import parse_qsl, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

# Once, at start-up: the discovery document names every endpoint.
discovery = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=10).json()


def oidc_client(client_id: str, client_secret: str | None, redirect_uri: str, scope: str) -> OAuth2Session:
    """A confidential client authenticates with HTTP Basic; a public one (no secret) sends client_id alone."""
    return OAuth2Session(client_id, client_secret, scope=scope, redirect_uri=redirect_uri, code_challenge_method="S256")


def start_login(client: OAuth2Session) -> tuple[str, dict]:
    """The login route: keep `pending` in the user's session and redirect the browser to the URL."""
    code_verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
    )
    return url, {"code_verifier": code_verifier, "state": state, "nonce": nonce}


def finish_login(client: OAuth2Session, callback_url: str, pending: dict) -> tuple[dict, dict]:
    """The callback route: checks iss and state, redeems the code with the PKCE verifier,
    verifies the ID token. Returns the tokens and the ID token's claims."""
    if dict(parse_qsl(urlsplit(callback_url).query)).get("iss") != ISSUER:  # RFC 9207
        raise ValueError("the authorization response is not from this issuer")
    token = client.fetch_token(
        discovery["token_endpoint"],
        authorization_response=callback_url,  # authlib checks `state` and reads `code`
        state=pending["state"],
        code_verifier=pending["code_verifier"],
    )
    return token, verify_id_token(token["id_token"], client.client_id, pending["nonce"])
# END docs/sso.md python-client


TIMEOUT = 10
ADMIN_USERNAME = os.environ.get("TESSERA_ADMIN_USERNAME", "admin")
ADMIN_PASSWORD = os.environ["TESSERA_ADMIN_PASSWORD"]

# Where the applications would receive their redirects. Nothing listens
# there: the suite reads the Location header instead of following it.
WEB_CALLBACK = "https://web.py.example/callback"
WEB_SIGNED_OUT = "https://web.py.example/signed-out"
SPA_CALLBACK = "https://spa.py.example/callback"

state: dict = {}
checks: list = []


def check(name):
    """Registers `fn` as one named check; they run in order of definition."""

    def register(fn):
        checks.append((name, fn))
        return fn

    return register


def run_checks() -> int:
    """Runs every check, printing PASS/FAIL lines and a summary; returns the failures."""
    failed = 0
    for name, fn in checks:
        try:
            fn()
        except Exception:  # noqa: BLE001 — every failure is reported, then the next check runs
            failed += 1
            print(f"FAIL python: {name}", flush=True)
            traceback.print_exc(file=sys.stdout)
        else:
            print(f"PASS python: {name}", flush=True)
    print(f"python: {len(checks) - failed} passed, {failed} failed", flush=True)
    return failed


# --- helpers ---------------------------------------------------------------


def api(method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, f"{ISSUER}{path}", headers=headers, timeout=TIMEOUT, **kwargs)


def unverified_header(token: str) -> dict:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


class FormParser(HTMLParser):
    """The first <form> of a page: its method, action and named inputs."""

    def __init__(self):
        super().__init__()
        self.method = self.action = None
        self.inputs: dict[str, str] = {}
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.method, self.action = (a.get("method") or "get").lower(), a.get("action")
            self._depth = 1
        elif tag == "input" and self._depth and a.get("name"):
            self.inputs[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._depth = 0


def read_form(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    assert parser.action, "the page has no form"
    return parser


def set_cookies(response: requests.Response) -> list[str]:
    return response.raw.headers.getlist("Set-Cookie")


def submit_login(browser: requests.Session, authorization_url: str, username: str, password: str):
    """A person at the login page: GET it, fill in the form, submit it.

    Returns the 303 answer (its Location goes back to the application)."""
    page = browser.get(authorization_url, allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 200, f"GET /authorize: {page.status_code} {page.text[:300]}"
    assert page.headers["Content-Type"].startswith("text/html")
    form = read_form(page.text)
    assert form.method == "post" and form.action == "/authorize", (form.method, form.action)
    assert "csrf_token" in form.inputs and "tessera_csrf" in browser.cookies
    fields = dict(form.inputs, username=username, password=password)
    answer = browser.post(urljoin(page.url, form.action), data=fields, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303, f"POST /authorize: {answer.status_code} {answer.text[:300]}"
    return answer


def callback_params(location: str, redirect_uri: str) -> dict:
    assert location.startswith(redirect_uri + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def events_seen(token: str, wanted, seconds: float = 5.0) -> list[dict]:
    """Frames from `GET /events?since=0` until `wanted(frames)` holds (or time runs out)."""
    url = ISSUER.replace("http", "ws", 1) + "/events?since=0"
    frames: list[dict] = []
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=TIMEOUT) as ws:
        deadline = time.monotonic() + seconds
        while not wanted(frames) and time.monotonic() < deadline:
            try:
                frames.append(json.loads(ws.recv(timeout=max(0.05, deadline - time.monotonic()))))
            except TimeoutError:
                break
    return frames


# --- set-up through the admin API --------------------------------------------


@check("set-up: admin registers the clients, a user signs up")
def setup():
    login = api("POST", "/auth/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    admin = login.json()["access_token"]

    def client(body):
        r = api("POST", "/admin/clients", admin, json=body)
        assert r.status_code == 201, r.text
        return r.json()

    web = client(
        {
            "name": "Python web app",
            "redirect_uris": [WEB_CALLBACK],
            "post_logout_redirect_uris": [WEB_SIGNED_OUT],
            "grant_types": ["authorization_code", "refresh_token", "password"],
            # A resource server too: it may introspect tokens (RFC 7662).
            "scopes": ["openid", "profile", "email", "tessera:introspect"],
            "confidential": True,
        }
    )
    spa = client(
        {
            "name": "Python single-page app",
            "redirect_uris": [SPA_CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "profile"],
            "confidential": False,
        }
    )
    service = client(
        {
            "name": "Python service",
            "redirect_uris": [],
            "grant_types": ["client_credentials"],
            "scopes": ["events:read"],
            "confidential": True,
        }
    )
    assert "client_secret" not in spa and web["client_secret"] and service["client_secret"]
    state["web"] = (web["client"]["client_id"], web["client_secret"])
    state["spa"] = spa["client"]["client_id"]
    state["service"] = (service["client"]["client_id"], service["client_secret"])

    username = "py-" + secrets.token_hex(4)
    password = secrets.token_urlsafe(18)
    r = api("POST", "/auth/register", json={"username": username, "password": password, "email": f"{username}@example.com"})
    assert r.status_code == 201, r.text
    state["user"] = (username, password, r.json()["user"]["id"])


@check("discovery document")
def discovery_document():
    d = api("GET", "/.well-known/openid-configuration").json()
    assert d["issuer"] == ISSUER
    for key, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("end_session_endpoint", "/logout"),
    ]:
        assert d[key] == ISSUER + path, (key, d.get(key))
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert "code" in d["response_types_supported"]
    assert "RS256" in d["id_token_signing_alg_values_supported"]
    assert {"client_secret_basic", "client_secret_post", "none"} <= set(d["token_endpoint_auth_methods_supported"])
    assert d == discovery, "the document the client helpers read at start-up"
    state["meta"] = d


# --- grants with authlib -----------------------------------------------------


@check("authlib: password grant (client_secret_basic), tokens verified with PyJWT")
def password_grant():
    meta, (client_id, secret), (username, password, user_id) = state["meta"], state["web"], state["user"]
    session = OAuth2Session(client_id, secret, scope="openid profile email")
    token = session.fetch_token(meta["token_endpoint"], username=username, password=password)
    assert token["token_type"] == "Bearer" and token["refresh_token"] and token["expires_in"] > 0
    assert set(token["scope"].split()) == {"openid", "profile", "email"}
    assert unverified_header(token["access_token"])["typ"] == "at+jwt"
    claims = verify_access_token(token["access_token"])
    assert claims["sub"] == user_id and claims["username"] == username and claims["client_id"] == client_id
    id_claims = verify_id_token(token["id_token"], client_id, nonce=None)
    assert id_claims["sub"] == user_id and id_claims["preferred_username"] == username
    assert id_claims["email"] == f"{username}@example.com"
    state["password_session"] = session


@check("authlib: refresh_token grant rotates the refresh token")
def refresh_grant():
    session = state["password_session"]
    before = dict(session.token)
    token = session.refresh_token(state["meta"]["token_endpoint"])
    assert token["access_token"] != before["access_token"]
    assert token["refresh_token"] and token["refresh_token"] != before["refresh_token"]
    claims = verify_access_token(token["access_token"])
    assert claims["sid"] == verify_access_token(before["access_token"])["sid"], "a refresh keeps the session"
    assert session.token["access_token"] == token["access_token"]


@check("authlib: userinfo with the bearer token")
def userinfo():
    session = state["password_session"]
    username, _, user_id = state["user"]
    r = session.get(state["meta"]["userinfo_endpoint"], timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["sub"] == user_id and info["preferred_username"] == username
    assert info["email"] == f"{username}@example.com"


@check("authlib: client_credentials grant (client_secret_post)")
def client_credentials():
    client_id, secret = state["service"]
    session = OAuth2Session(client_id, secret, token_endpoint_auth_method="client_secret_post", scope="events:read")
    token = session.fetch_token(state["meta"]["token_endpoint"], grant_type="client_credentials")
    assert "refresh_token" not in token and "id_token" not in token
    claims = verify_access_token(token["access_token"])
    assert claims["sub"] == client_id and claims["client_id"] == client_id
    assert claims["scope"] == "events:read" and "username" not in claims
    # A token about a client, not a person: /me refuses it (SPEC §8).
    assert api("GET", "/me", token["access_token"]).status_code == 403
    state["service_token"] = token["access_token"]


@check("authlib: authorization code + PKCE S256 through the login page")
def code_flow():
    meta, (client_id, secret), (username, password, user_id) = state["meta"], state["web"], state["user"]
    session = oidc_client(client_id, secret, WEB_CALLBACK, "openid profile email")
    url, pending = start_login(session)
    assert url.startswith(meta["authorization_endpoint"] + "?")
    assert "code_challenge=" in url and "code_challenge_method=S256" in url

    browser = requests.Session()
    answer = submit_login(browser, url, username, password)
    location = answer.headers["Location"]
    params = callback_params(location, WEB_CALLBACK)
    assert params["state"] == pending["state"] and params["iss"] == ISSUER  # RFC 9207
    cookie = next(c for c in set_cookies(answer) if c.startswith("tessera_session="))
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "path"} <= attrs and "samesite=lax" in cookie.lower().replace(" ", ""), cookie
    assert ("secure" in attrs) == ISSUER.startswith("https://"), cookie

    token, id_claims = finish_login(session, location, pending)
    assert token["refresh_token"] and token["id_token"]
    claims = verify_access_token(token["access_token"])
    assert claims["sub"] == user_id and claims["client_id"] == client_id
    assert id_claims["nonce"] == pending["nonce"] and id_claims["sub"] == user_id and id_claims["azp"] == client_id
    assert id_claims["auth_time"] <= id_claims["iat"]
    # Each verifier refuses the other kind of token.
    for wrong in (lambda: verify_access_token(token["id_token"]), lambda: verify_id_token(token["access_token"], client_id, pending["nonce"])):
        try:
            wrong()
        except jwt.InvalidTokenError:
            pass
        else:
            raise AssertionError("a token of the wrong kind verified")
    state.update(browser=browser, web_session=session, web_token=token, web_id_claims=id_claims)


@check("login page: a wrong password shows the form again (401), a missing CSRF token is refused (403)")
def login_page_errors():
    meta, (client_id, secret), (username, password, _) = state["meta"], state["web"], state["user"]
    url, _ = start_login(oidc_client(client_id, secret, WEB_CALLBACK, "openid"))
    browser = requests.Session()
    form = read_form(browser.get(url, allow_redirects=False, timeout=TIMEOUT).text)
    post = lambda fields: browser.post(f"{ISSUER}/authorize", data=fields, allow_redirects=False, timeout=TIMEOUT)
    wrong = post(dict(form.inputs, username=username, password=password + "x"))
    assert wrong.status_code == 401 and "Location" not in wrong.headers, wrong.status_code
    assert read_form(wrong.text).inputs["username"] == username
    no_csrf = post({k: v for k, v in dict(form.inputs, username=username, password=password).items() if k != "csrf_token"})
    assert no_csrf.status_code == 403, no_csrf.status_code
    assert "tessera_session" not in browser.cookies


@check("authlib: PKCE is enforced (wrong code_verifier is invalid_grant)")
def pkce_enforced():
    meta, (client_id, secret) = state["meta"], state["web"]
    session = oidc_client(client_id, secret, WEB_CALLBACK, "openid")
    url, pending = start_login(session)
    answer = state["browser"].get(url, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303, "the browser is signed in"
    try:
        session.fetch_token(
            meta["token_endpoint"], authorization_response=answer.headers["Location"], code_verifier=pending["code_verifier"][::-1]
        )
    except OAuthError as e:
        assert e.error == "invalid_grant", e.error
    else:
        raise AssertionError("a code redeemed with the wrong verifier was accepted")


@check("authlib: single sign-on, a second (public) client gets a code without a password")
def single_sign_on():
    client_id, (_, _, user_id) = state["spa"], state["user"]
    session = oidc_client(client_id, None, SPA_CALLBACK, "openid profile")
    url, pending = start_login(session)
    answer = state["browser"].get(url, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303, f"expected a redirect straight back, got {answer.status_code}"
    location = answer.headers["Location"]
    assert callback_params(location, SPA_CALLBACK)["state"] == pending["state"]
    token, id_claims = finish_login(session, location, pending)
    assert verify_access_token(token["access_token"])["client_id"] == client_id
    assert id_claims["sub"] == user_id
    assert id_claims["auth_time"] == state["web_id_claims"]["auth_time"], "one login, both applications"
    assert "email" not in id_claims, "the client did not ask for scope email"
    state["spa_token"] = token


@check("authlib: an authorization code works once; reuse revokes what it issued")
def code_reuse():
    meta, client_id = state["meta"], state["spa"]
    session = oidc_client(client_id, None, SPA_CALLBACK, "openid")
    url, pending = start_login(session)
    location = state["browser"].get(url, allow_redirects=False, timeout=TIMEOUT).headers["Location"]
    first, _ = finish_login(session, location, pending)
    assert api("GET", "/auth/verify", first["access_token"]).status_code == 200
    try:
        finish_login(session, location, pending)
    except OAuthError as e:
        assert e.error == "invalid_grant", e.error
    else:
        raise AssertionError("a used code was accepted again")
    assert api("GET", "/auth/verify", first["access_token"]).status_code == 401


# --- introspection, revocation, logout ---------------------------------------


@check("authlib: introspect (active), revoke the access token, introspect (inactive), forward-auth refuses it")
def revoke_and_introspect():
    meta, session = state["meta"], state["password_session"]
    access = session.token["access_token"]
    r = session.introspect_token(meta["introspection_endpoint"], token=access)
    assert r.status_code == 200 and r.json()["active"] is True, r.text
    assert r.json()["sub"] == state["user"][2]
    r = session.revoke_token(meta["revocation_endpoint"], token=access, token_type_hint="access_token")
    assert r.status_code == 200, r.text
    r = session.introspect_token(meta["introspection_endpoint"], token=access)
    assert r.status_code == 200 and r.json() == {"active": False}, r.text
    me = api("GET", "/auth/verify", access)
    assert me.status_code == 401, me.text
    state["revoked_jti"] = verify_access_token(access)["jti"]


@check("authlib: revoking the refresh token ends it (refresh is invalid_grant)")
def revoke_refresh_token():
    meta, session = state["meta"], state["password_session"]
    r = session.revoke_token(meta["revocation_endpoint"], token=session.token["refresh_token"], token_type_hint="refresh_token")
    assert r.status_code == 200, r.text
    try:
        session.refresh_token(meta["token_endpoint"])
    except OAuthError as e:
        assert e.error == "invalid_grant", e.error
    else:
        raise AssertionError("a revoked refresh token still works")


@check("RP-initiated logout with id_token_hint ends the SSO session and its tokens")
def logout():
    meta, browser, web = state["meta"], state["browser"], state["web_token"]
    spa = state["spa_token"]
    assert api("GET", "/auth/verify", web["access_token"]).status_code == 200
    assert api("GET", "/auth/verify", spa["access_token"]).status_code == 200
    answer = browser.get(
        meta["end_session_endpoint"],
        params={"id_token_hint": web["id_token"], "post_logout_redirect_uri": WEB_SIGNED_OUT, "state": "bye"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert answer.status_code == 303, f"{answer.status_code} {answer.text[:300]}"
    assert answer.headers["Location"] == WEB_SIGNED_OUT + "?state=bye"
    assert "tessera_session" not in browser.cookies, "the session cookie is cleared"
    # Every token session issued through that browser session has ended.
    assert api("GET", "/auth/verify", web["access_token"]).status_code == 401
    assert api("GET", "/auth/verify", spa["access_token"]).status_code == 401
    try:
        state["web_session"].refresh_token(meta["token_endpoint"])
    except OAuthError as e:
        assert e.error == "invalid_grant", e.error
    else:
        raise AssertionError("a refresh token of the ended session still works")
    # The next application has to show the login page again.
    url, _ = start_login(oidc_client(state["spa"], None, SPA_CALLBACK, "openid"))
    assert browser.get(url, allow_redirects=False, timeout=TIMEOUT).status_code == 200


@check("RP-initiated logout without a hint asks first (a CSRF-protected form)")
def logout_with_confirmation():
    meta, (client_id, secret), (username, password, _) = state["meta"], state["web"], state["user"]
    session = oidc_client(client_id, secret, WEB_CALLBACK, "openid")
    url, pending = start_login(session)
    browser = requests.Session()
    location = submit_login(browser, url, username, password).headers["Location"]
    token, _ = finish_login(session, location, pending)
    params = {"client_id": client_id, "post_logout_redirect_uri": WEB_SIGNED_OUT, "state": "later"}
    page = browser.get(meta["end_session_endpoint"], params=params, allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 200, page.status_code
    assert api("GET", "/auth/verify", token["access_token"]).status_code == 200, "nobody is signed out by a mere link"
    form = read_form(page.text)
    assert form.method == "post" and form.action == "/logout" and "csrf_token" in form.inputs
    forged = {k: v for k, v in form.inputs.items() if k != "csrf_token"}
    assert browser.post(f"{ISSUER}/logout", data=forged, allow_redirects=False, timeout=TIMEOUT).status_code == 403
    answer = browser.post(f"{ISSUER}/logout", data=form.inputs, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303 and answer.headers["Location"] == WEB_SIGNED_OUT + "?state=later"
    assert api("GET", "/auth/verify", token["access_token"]).status_code == 401


@check("websockets: an events:read client sees session.revoked and token.revoked on /events")
def events():
    web_sid = verify_access_token(state["web_token"]["access_token"])["sid"]
    spa_sid = verify_access_token(state["spa_token"]["access_token"])["sid"]
    jti = state["revoked_jti"]

    def done(frames):
        sids = {f.get("sid") for f in frames if f.get("type") == "session.revoked"}
        jtis = {f.get("jti") for f in frames if f.get("type") == "token.revoked"}
        return {web_sid, spa_sid} <= sids and jti in jtis

    frames = events_seen(state["service_token"], done)
    assert done(frames), [f.get("type") for f in frames]
    sub = state["user"][2]
    assert all(f["sub"] == sub for f in frames if f.get("sid") in (web_sid, spa_sid) or f.get("jti") == jti)


if __name__ == "__main__":
    sys.exit(1 if run_checks() else 0)
