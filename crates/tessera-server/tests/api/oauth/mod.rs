//! OAuth 2.0 and OpenID Connect without a browser (SPEC §8): the token
//! endpoint's grants and RFC 6749 §5.2 errors, ID tokens, the clients admin
//! API, `/userinfo`, revocation (RFC 7009), introspection (RFC 7662),
//! discovery, and `events:read` on `/events`. Every refusal sits next to the
//! same request done right, so each test fails if the rule goes.

mod clients;
mod endpoints;
mod grants;
mod id_tokens;
mod scopes;

use crate::helpers::*;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// The default access-token lifetime plus the default leeway, and a second.
const PAST_EXPIRY: Duration = Duration::from_secs(15 * 60 + 61);

// ------------------------------------------------------------------ kit

/// A registration for a confidential client.
fn confidential(name: &str, grants: &[&str], scopes: &[&str]) -> Value {
    json!({
        "name": name,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": grants,
        "scopes": scopes,
        "confidential": true,
    })
}

/// A registration for a public client with the `password` grant.
fn public_password(name: &str, scopes: &[&str]) -> Value {
    json!({
        "name": name,
        "redirect_uris": [],
        "grant_types": ["password", "refresh_token"],
        "scopes": scopes,
        "confidential": false,
    })
}

/// An app with an admin `root` and a user `alice`.
async fn app_with_alice() -> (TestApp, Session, Session) {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let alice = app.register("alice").await;
    (app, root, alice)
}

/// The password grant for alice, with `extra` fields.
fn alice_password<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    fields.extend_from_slice(extra);
    fields
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// Whether `access` is accepted (200) or refused (401), by `/auth/verify`:
/// it takes every valid token, whoever it was issued to.
async fn token_status(app: &TestApp, access: &str) -> StatusCode {
    app.get("/auth/verify", Some(access)).await.status()
}

/// Asserts a 401 `invalid_client` that names HTTP Basic (RFC 6749 §5.2).
async fn assert_invalid_client(r: Response) {
    let challenge = r
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate on invalid_client")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

/// Verifies a JWS with the key its `kid` names in the server's JWKS, using
/// jsonwebtoken (not Tessera's own code); returns the claims.
async fn verify_with_jwks(app: &TestApp, token: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("header");
    let kid = header.kid.clone().expect("kid");
    let jwks = app.jwks().await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("{kid} is published in {jwks}"));
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.base.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the signature verifies with the published key")
        .claims
}

/// An app with admin `root`, user `alice` and a public code-flow client.
async fn code_setup() -> (TestApp, Session, OAuthApp) {
    let (app, root, alice) = app_with_alice().await;
    let client = app
        .create_client(&root.access, public_code_client("spa"))
        .await;
    (app, alice, client)
}
