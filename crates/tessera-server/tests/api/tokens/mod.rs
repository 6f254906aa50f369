//! Access-token acceptance (SPEC §5, RFC 8725): every rule is broken on
//! purpose by a token forged with the server's *real* signing key, so that
//! only that one rule can be why it is refused; next to each forgery, the
//! same construction with the rule kept is accepted, so every test can fail.
//!
//! This file holds the forger's kit and the assertions every rule uses.

mod authorization_header;
mod claims_and_revocation;
mod encoding;
mod jose_header;
mod signatures;

use crate::helpers::*;
use reqwest::header::{HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use serde_json::{Map, Value, json};
use tessera_token::crypto::{b64url, b64url_decode};
use tessera_token::keys::{SigningKey, generate_private_key, parse_alg};

/// The endpoints every token is tried on.
const PROTECTED: [&str; 2] = ["/me", "/auth/verify"];

/// The largest token SPEC §5 accepts, in bytes.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

// ---------------------------------------------------------------------------
// The forger's kit
// ---------------------------------------------------------------------------

/// A registered user's real tokens plus the server's real signing key, read
/// from the database the server uses.
struct Forger {
    session: Session,
    key: SigningKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl Forger {
    /// Registers `alice` and loads the key that signed her access token.
    async fn new(app: &TestApp) -> Self {
        let session = app.register("alice").await;
        let header = decode_object(&session.access, 0);
        let claims = decode_object(&session.access, 1);
        assert_eq!(header["alg"], "ES256", "the default algorithm");
        assert_eq!(header["typ"], "at+jwt");
        let kid = header["kid"].as_str().expect("kid").to_owned();
        let key = server_key(app, &kid).await;
        Self {
            session,
            key,
            header,
            claims,
        }
    }

    fn kid(&self) -> &str {
        self.key.kid()
    }

    /// The real token's header, to edit.
    fn header(&self) -> Map<String, Value> {
        self.header.clone()
    }

    /// The real token's claims, to edit.
    fn claims(&self) -> Map<String, Value> {
        self.claims.clone()
    }

    /// Signs `header` and `claims` with the server's key.
    fn sign(&self, header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
        sign_with(&self.key, header, claims)
    }

    /// Signs raw header and claims JSON text with the server's key.
    fn sign_json(&self, header: &str, claims: &str) -> String {
        self.sign_encoded(&b64url(header), &b64url(claims))
    }

    /// Signs the two literal encoded parts with the server's key.
    fn sign_encoded(&self, header: &str, claims: &str) -> String {
        sign_encoded_with(&self.key, header, claims)
    }

    /// The real header, with claims that differ in one member.
    fn with_claim(&self, name: &str, value: Value) -> String {
        let mut claims = self.claims();
        claims.insert(name.into(), value);
        self.sign(&self.header, &claims)
    }

    /// The real header, with claims lacking one member.
    fn without_claim(&self, name: &str) -> String {
        let mut claims = self.claims();
        claims.remove(name);
        self.sign(&self.header, &claims)
    }

    /// The real claims, under a header that differs in one member.
    fn with_header(&self, name: &str, value: Value) -> String {
        let mut header = self.header();
        header.insert(name.into(), value);
        self.sign(&header, &self.claims)
    }

    /// The real claims, under a header lacking one member.
    fn without_header(&self, name: &str) -> String {
        let mut header = self.header();
        header.remove(name);
        self.sign(&header, &self.claims)
    }
}

/// The server's signing key named `kid`, read from its database.
async fn server_key(app: &TestApp, kid: &str) -> SigningKey {
    let store = tessera_core::store::connect(&app.database_url)
        .await
        .expect("store");
    let stored = store.signing_keys().await.expect("signing keys");
    let k = stored
        .iter()
        .find(|k| k.kid == kid)
        .expect("the key that signed the token is stored");
    assert!(!k.encrypted, "no master key is configured in tests");
    SigningKey::from_private_der(
        parse_alg(&k.alg).expect("a supported alg"),
        &k.private_der,
        k.created_at,
        k.activates_at,
        k.generation,
    )
    .expect("the stored key parses")
}

/// A fresh ES256 key the server has never seen.
fn attacker_key() -> SigningKey {
    let alg = parse_alg("ES256").expect("ES256");
    let der = generate_private_key(alg).expect("generate");
    SigningKey::from_private_der(alg, &der, 0, 0, 1).expect("attacker key")
}

fn sign_with(key: &SigningKey, header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
    let header = serde_json::to_string(header).expect("header JSON");
    let claims = serde_json::to_string(claims).expect("claims JSON");
    sign_encoded_with(key, &b64url(header), &b64url(claims))
}

fn sign_encoded_with(key: &SigningKey, header: &str, claims: &str) -> String {
    let input = format!("{header}.{claims}");
    let signature = key.sign(input.as_bytes()).expect("sign");
    format!("{input}.{}", b64url(signature))
}

/// The three dot-separated parts of a compact token.
fn parts(token: &str) -> [&str; 3] {
    let v: Vec<&str> = token.split('.').collect();
    [v[0], v[1], v[2]]
}

/// Decodes part `index` (0 header, 1 claims) as a JSON object.
fn decode_object(token: &str, index: usize) -> Map<String, Value> {
    let bytes = b64url_decode(parts(token)[index]).expect("base64url part");
    match serde_json::from_slice(&bytes).expect("JSON part") {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

/// Both protected endpoints accept `token`.
async fn assert_accepted(app: &TestApp, token: &str, what: &str) {
    for path in PROTECTED {
        let r = app.get(path, Some(token)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path} must accept {what}");
    }
}

/// Both protected endpoints refuse `token` with a 401 `invalid_token`.
async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    for path in PROTECTED {
        let r = app.get(path, Some(token)).await;
        assert_invalid_token(r, &format!("{path} with {what}")).await;
    }
}

/// A 401 `invalid_token` in the error shape, with the RFC 6750 challenge.
async fn assert_invalid_token(r: Response, what: &str) {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(
        r.headers().get(WWW_AUTHENTICATE).map(HeaderValue::as_bytes),
        Some(&b"Bearer error=\"invalid_token\""[..]),
        "{what}"
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
}
