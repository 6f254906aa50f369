//! Access-token acceptance (SPEC §5, RFC 8725): every rule is broken on
//! purpose by a token forged with the server's *real* signing key, so that
//! only that one rule can be why it is refused; next to each forgery, the
//! same construction with the rule kept is accepted, so every test can fail.

use crate::helpers::*;
use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use serde_json::{Map, Value, json};
use std::time::Duration;
use tessera_token::clock::Clock as _;
use tessera_token::crypto::{b64url, b64url_decode};
use tessera_token::keys::{SigningKey, generate_private_key, parse_alg};
use tessera_token::tokens::{new_jti, sign_jws};

/// The endpoints every token is tried on.
const PROTECTED: [&str; 2] = ["/me", "/auth/verify"];

/// The largest token SPEC §5 accepts, in bytes.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The default clock-skew leeway, in seconds.
const LEEWAY: i64 = 60;

/// The default access-token lifetime, in seconds.
const ACCESS_TTL: i64 = 900;

/// What a forgiving decoder would accept: padding optional, any trailing bits.
/// Used only to prove a forged part still *means* the same bytes.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The order of the P-256 group; ECDSA scalars must lie in `1..N`.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

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

/// Adds `=` padding to an unpadded base64url part.
fn padded(part: &str) -> String {
    let mut out = part.to_owned();
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// Sets the lowest unused trailing bit of a part whose length leaves some:
/// the same bytes to a forgiving decoder, non-canonical to a strict one.
fn non_canonical(part: &str) -> String {
    assert!(!part.len().is_multiple_of(4), "{part} has no trailing bits");
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *part.as_bytes().last().expect("non-empty part");
    let index = ALPHABET.iter().position(|&c| c == last).expect("base64url");
    let mut out = part[..part.len() - 1].to_owned();
    out.push(char::from(ALPHABET[index | 1]));
    out
}

/// JSON text of `object` whose length is not a multiple of 3, so that its
/// base64url form leaves padding and trailing bits (leading whitespace is
/// still the same JSON).
fn json_needing_padding(object: &Map<String, Value>) -> String {
    let mut text = serde_json::to_string(object).expect("JSON");
    if text.len().is_multiple_of(3) {
        text.insert(0, ' ');
    }
    text
}

/// `{ prefix, <members of object> }` as raw JSON text.
fn json_with_leading_members(object: &Map<String, Value>, prefix: &str) -> String {
    let text = serde_json::to_string(object).expect("JSON");
    format!("{{{prefix},{}", &text[1..])
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

/// GET `path` with a raw `Authorization` header value.
async fn get_with_authorization(app: &TestApp, path: &str, value: &[u8]) -> Response {
    let value = HeaderValue::from_bytes(value).expect("a sendable header value");
    app.client
        .get(app.url(path))
        .header(AUTHORIZATION, value)
        .send()
        .await
        .expect("request")
}

// ---------------------------------------------------------------------------
// The control: forging with the real key works
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_token_re_signed_with_the_servers_key_is_accepted() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;

    let by_hand = forger.sign(&forger.header(), &forger.claims());
    let by_core = sign_jws(&forger.key, "at+jwt", &forger.claims()).expect("sign");

    assert_accepted(&app, &forger.session.access, "the issued token").await;
    assert_accepted(&app, &by_hand, "a token built by hand").await;
    assert_accepted(&app, &by_core, "a token built by sign_jws").await;
}

// ---------------------------------------------------------------------------
// Rule 1: shape, size, base64url, JSON objects without duplicates
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tokens_that_are_not_three_parts_of_json_objects_are_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let [h, p, s] = parts(&forger.session.access);
    let header = serde_json::to_string(&forger.header).expect("JSON");
    let claims = serde_json::to_string(&forger.claims).expect("JSON");

    let cases = [
        (format!("{h}.{p}"), "two parts"),
        (format!("{h}.{p}.{s}.{s}"), "four parts"),
        (format!("{h}.{p}."), "an empty signature"),
        (format!(".{p}.{s}"), "an empty header"),
        (
            forger.sign_json(&format!("[{header}]"), &claims),
            "a header array",
        ),
        (
            forger.sign_json(&header, &format!("[{claims}]")),
            "a claims array",
        ),
        (forger.sign_json(&header, "\"alice\""), "a claims string"),
        (
            forger.sign_json(&header, &format!("{claims}{claims}")),
            "two claims objects",
        ),
        (
            forger.sign_json(&header, &claims[1..]),
            "claims that are not JSON",
        ),
    ];

    assert_accepted(&app, &forger.sign_json(&header, &claims), "the control").await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn padded_base64url_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let header = json_needing_padding(&forger.header);
    let claims = json_needing_padding(&forger.claims);
    let (h, p) = (b64url(&header), b64url(&claims));
    let control = forger.sign_encoded(&h, &p);
    let s = parts(&control)[2].to_owned();
    assert!(!h.len().is_multiple_of(4) && !p.len().is_multiple_of(4) && !s.len().is_multiple_of(4));

    let cases = [
        (forger.sign_encoded(&padded(&h), &p), "a padded header"),
        (forger.sign_encoded(&h, &padded(&p)), "padded claims"),
        (format!("{h}.{p}.{}", padded(&s)), "a padded signature"),
        (format!("{h}.{p}.{s}="), "a signature with one '=' appended"),
        (
            forger.sign_encoded(&format!("{h}="), &p),
            "a header with one '=' appended",
        ),
    ];
    // Each forgery still means the same bytes to a decoder that allows padding.
    assert_eq!(
        LENIENT.decode(padded(&h)).expect("lenient"),
        header.as_bytes()
    );
    assert_eq!(
        LENIENT.decode(padded(&p)).expect("lenient"),
        claims.as_bytes()
    );

    assert_accepted(&app, &control, "the unpadded control").await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn non_canonical_base64url_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let header = json_needing_padding(&forger.header);
    let claims = json_needing_padding(&forger.claims);
    let (h, p) = (b64url(&header), b64url(&claims));
    // Re-sign until the signature has a character the two alphabets spell differently.
    let control = (0..100)
        .map(|_| forger.sign_encoded(&h, &p))
        .find(|t| parts(t)[2].contains(['-', '_']))
        .expect("a signature containing '-' or '_'");
    let s = parts(&control)[2].to_owned();
    let standard_alphabet = s.replace('-', "+").replace('_', "/");

    let cases = [
        (
            forger.sign_encoded(&non_canonical(&h), &p),
            "a header with trailing bits set",
        ),
        (
            forger.sign_encoded(&h, &non_canonical(&p)),
            "claims with trailing bits set",
        ),
        (
            format!("{h}.{p}.{}", non_canonical(&s)),
            "a signature with trailing bits set",
        ),
        (
            format!("{h}.{p}.{standard_alphabet}"),
            "a signature in the standard base64 alphabet",
        ),
    ];
    // Each forgery still means the same bytes to a forgiving decoder.
    assert_eq!(
        LENIENT.decode(non_canonical(&h)).expect("lenient"),
        header.as_bytes()
    );
    assert_eq!(
        LENIENT.decode(non_canonical(&p)).expect("lenient"),
        claims.as_bytes()
    );
    assert_eq!(
        LENIENT.decode(non_canonical(&s)).expect("lenient"),
        LENIENT.decode(&s).expect("lenient")
    );

    assert_accepted(&app, &control, "the canonical control").await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn a_signed_token_of_up_to_8_kib_is_accepted_and_a_longer_one_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let header = b64url(serde_json::to_string(&forger.header).expect("JSON"));
    let signature_len = parts(&forger.session.access)[2].len();
    let padded_claims = |n: usize| {
        let mut claims = forger.claims();
        claims.insert("pad".into(), json!("x".repeat(n)));
        b64url(serde_json::to_string(&claims).expect("JSON"))
    };
    let length = |n: usize| header.len() + 1 + padded_claims(n).len() + 1 + signature_len;
    let over = (0..MAX_TOKEN_BYTES)
        .find(|&n| length(n) > MAX_TOKEN_BYTES)
        .expect("some padding is too long");
    let (fits, too_long) = (over - 1, over);

    let largest = forger.sign_encoded(&header, &padded_claims(fits));
    let smallest_too_large = forger.sign_encoded(&header, &padded_claims(too_long));

    assert!(largest.len() >= MAX_TOKEN_BYTES - 1, "{}", largest.len());
    assert!(largest.len() <= MAX_TOKEN_BYTES);
    assert!(smallest_too_large.len() > MAX_TOKEN_BYTES);
    assert_accepted(&app, &largest, "a token just under 8 KiB").await;
    assert_refused(&app, &smallest_too_large, "a token just over 8 KiB").await;
    let huge = forger.with_claim("pad", json!("x".repeat(64 * 1024)));
    assert_refused(&app, &huge, "a 64 KiB token").await;
}

#[tokio::test]
async fn duplicate_members_in_the_header_are_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let claims = serde_json::to_string(&forger.claims).expect("JSON");
    let header = |prefix: &str| json_with_leading_members(&forger.header, prefix);

    let control = forger.sign_json(&header(r#""x-extra":"none""#), &claims);
    let cases = [
        (
            forger.sign_json(&header(&format!(r#""kid":"{}""#, forger.kid())), &claims),
            "a repeated kid",
        ),
        (
            forger.sign_json(&header(r#""alg":"none""#), &claims),
            "alg none, then ES256",
        ),
        (
            forger.sign_json(&header(r#""typ":"JWT""#), &claims),
            "typ JWT, then at+jwt",
        ),
    ];

    assert_accepted(&app, &control, "an extra, unrepeated header member").await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn duplicate_claims_are_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let header = serde_json::to_string(&forger.header).expect("JSON");
    let claims = |prefix: &str| json_with_leading_members(&forger.claims, prefix);
    let far_future = forger.claims["exp"].as_i64().expect("exp") + 86_400 * 365;

    let control = forger.sign_json(&header, &claims(r#""x-extra":{"a":1,"b":["admin"]}"#));
    let cases = [
        (
            forger.sign_json(&header, &claims(r#""roles":["admin"]"#)),
            "roles admin, then user",
        ),
        (
            forger.sign_json(&header, &claims(&format!(r#""exp":{far_future}"#))),
            "exp far away, then the real one",
        ),
        (
            forger.sign_json(&header, &claims(r#""x-extra":{"a":1,"a":2}"#)),
            "a nested repeated member",
        ),
    ];

    assert_accepted(&app, &control, "extra, unrepeated claims").await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

// ---------------------------------------------------------------------------
// Rule 2: the algorithm is pinned by the key
// ---------------------------------------------------------------------------

#[tokio::test]
async fn alg_none_is_refused_in_every_spelling() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let claims = b64url(serde_json::to_string(&forger.claims).expect("JSON"));

    let mut cases = Vec::new();
    for spelling in ["none", "None", "NONE", "nOnE"] {
        let mut header = forger.header();
        header.insert("alg".into(), json!(spelling));
        let h = b64url(serde_json::to_string(&header).expect("JSON"));
        // A signature by the real key over exactly this input: only `alg` is wrong.
        let signed = forger.sign_encoded(&h, &claims);
        cases.push((
            format!("{h}.{claims}."),
            format!("alg {spelling}, no signature"),
        ));
        cases.push((signed, format!("alg {spelling}, the key's valid signature")));
        cases.push((
            format!("{h}.{claims}.AAAA"),
            format!("alg {spelling}, a junk signature"),
        ));
        header.remove("kid");
        let h = b64url(serde_json::to_string(&header).expect("JSON"));
        cases.push((format!("{h}.{claims}."), format!("alg {spelling}, no kid")));
    }

    let control = forger.with_header("alg", json!("ES256"));
    assert_accepted(&app, &control, "the same construction with alg ES256").await;
    for (token, what) in cases {
        assert_refused(&app, &token, &what).await;
    }
}

#[tokio::test]
async fn a_token_without_a_string_alg_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;

    let cases = [
        (forger.without_header("alg"), "no alg"),
        (forger.with_header("alg", Value::Null), "alg null"),
        (
            forger.with_header("alg", json!(["ES256"])),
            "alg as an array",
        ),
        (forger.with_header("alg", json!("")), "an empty alg"),
    ];

    assert_accepted(
        &app,
        &forger.with_header("alg", json!("ES256")),
        "the control",
    )
    .await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn hmac_signed_with_the_servers_public_key_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let jwks = json_body(app.get("/.well-known/jwks.json", None).await).await;
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == forger.kid())
        .expect("the signing key is published")
        .clone();
    let coordinate = |name: &str| b64url_decode(jwk[name].as_str().expect(name)).expect(name);
    let (x, y) = (coordinate("x"), coordinate("y"));
    let sec1 = [&[0x04][..], &x, &y].concat();
    // SubjectPublicKeyInfo for id-ecPublicKey on prime256v1.
    let spki_prefix = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let spki = [&spki_prefix[..], &sec1].concat();
    let body = STANDARD.encode(&spki);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
        lines.join("\n")
    );
    let secrets: Vec<(Vec<u8>, &str)> = vec![
        ([&x[..], &y].concat(), "x || y"),
        (sec1.clone(), "the SEC1 point"),
        (spki.clone(), "the SPKI DER"),
        (pem.clone().into_bytes(), "the PEM"),
        (
            format!("{pem}\n").into_bytes(),
            "the PEM with a final newline",
        ),
        (serde_json::to_vec(&jwk).expect("JSON"), "the JWK JSON"),
        (
            jwk["x"].as_str().expect("x").as_bytes().to_vec(),
            "the x member text",
        ),
    ];

    let mut cases = Vec::new();
    for alg in ["HS256", "HS384", "HS512"] {
        let mut header = forger.header();
        header.insert("alg".into(), json!(alg));
        for (secret, form) in &secrets {
            let hmac = SigningKey::from_hmac_secret(parse_alg(alg).expect("alg"), secret)
                .expect("hmac key");
            cases.push((
                sign_with(&hmac, &header, &forger.claims),
                format!("{alg} keyed with {form}"),
            ));
        }
    }

    let control = forger.with_header("alg", json!("ES256"));
    assert_accepted(&app, &control, "the same construction with ES256").await;
    for (token, what) in cases {
        assert_refused(&app, &token, &what).await;
    }
}

#[tokio::test]
async fn an_alg_other_than_the_keys_is_refused_even_with_the_keys_signature() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;

    let mut cases = Vec::new();
    for alg in [
        "ES384", "RS256", "PS256", "EdDSA", "HS256", "es256", "ES256 ",
    ] {
        cases.push((forger.with_header("alg", json!(alg)), alg));
    }

    assert_accepted(
        &app,
        &forger.with_header("alg", json!("ES256")),
        "alg ES256",
    )
    .await;
    for (token, alg) in cases {
        assert_refused(&app, &token, &format!("alg {alg:?} on the ES256 key")).await;
    }
}

#[tokio::test]
async fn a_token_naming_an_unknown_kid_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let mut near_miss = forger.kid().to_owned();
    let last = near_miss.pop().expect("non-empty kid");
    near_miss.push(if last == 'A' { 'B' } else { 'A' });

    let cases = [
        (
            forger.with_header("kid", json!("no-such-key")),
            "a made-up kid",
        ),
        (
            forger.with_header("kid", json!(near_miss)),
            "a kid one character off",
        ),
        (
            forger.with_header("kid", json!(forger.kid().to_lowercase())),
            "the kid in lower case",
        ),
        (
            forger.with_header("kid", json!(format!("{} ", forger.kid()))),
            "the kid with a trailing space",
        ),
    ];

    assert_accepted(
        &app,
        &forger.with_header("kid", json!(forger.kid())),
        "the real kid",
    )
    .await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn a_token_without_a_kid_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;

    let cases = [
        (forger.without_header("kid"), "no kid"),
        (forger.with_header("kid", Value::Null), "kid null"),
        (forger.with_header("kid", json!("")), "an empty kid"),
        (
            forger.with_header("kid", json!([forger.kid()])),
            "kid as an array",
        ),
        (forger.with_header("kid", json!(1)), "kid as a number"),
    ];

    assert_accepted(
        &app,
        &forger.with_header("kid", json!(forger.kid())),
        "the real kid",
    )
    .await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

// ---------------------------------------------------------------------------
// Rule 3: typ, crit; jku/jwk/x5u/x5c never find keys
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_token_whose_typ_is_not_at_jwt_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;

    let mut cases = vec![(forger.without_header("typ"), "no typ".to_owned())];
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("rt+jwt"),
        json!("id+jwt"),
        json!("application/jwt"),
        json!("at+jwt "),
        json!("at+jwt; charset=utf-8"),
        json!("application/at+jwt+x"),
        json!(""),
        json!(null),
        json!(["at+jwt"]),
    ] {
        cases.push((forger.with_header("typ", typ.clone()), format!("typ {typ}")));
    }

    assert_accepted(
        &app,
        &forger.with_header("typ", json!("at+jwt")),
        "typ at+jwt",
    )
    .await;
    for (token, what) in cases {
        assert_refused(&app, &token, &what).await;
    }
}

#[tokio::test]
async fn typ_is_compared_case_insensitively_and_may_carry_the_media_type_prefix() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;

    for typ in [
        "at+jwt",
        "AT+JWT",
        "At+Jwt",
        "application/at+jwt",
        "APPLICATION/AT+JWT",
    ] {
        let token = forger.with_header("typ", json!(typ));
        assert_accepted(&app, &token, &format!("typ {typ}")).await;
    }
}

#[tokio::test]
async fn a_refresh_token_is_not_a_bearer_token() {
    let app = TestApp::spawn().await;
    let session = app.register("alice").await;

    let r = app.get("/me", Some(&session.refresh)).await;

    assert_invalid_token(r, "the refresh token as a bearer token").await;
    assert_refused(&app, &session.refresh, "the refresh token").await;
    assert_accepted(
        &app,
        &session.access,
        "the access token of the same session",
    )
    .await;
    assert_eq!(app.refresh(&session.refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_crit_header_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let with_headers = |extra: Value| {
        let mut header = forger.header();
        header.extend(extra.as_object().expect("object").clone());
        forger.sign(&header, &forger.claims)
    };

    let control = with_headers(json!({"x-extension": ["exp"]}));
    let cases = [
        (
            with_headers(json!({"crit": ["exp"], "exp": 1})),
            "crit [exp]",
        ),
        (
            with_headers(json!({"crit": ["b64"], "b64": true})),
            "crit [b64]",
        ),
        (with_headers(json!({"crit": []})), "an empty crit"),
        (with_headers(json!({"crit": null})), "crit null"),
    ];

    assert_accepted(&app, &control, "a non-critical extension header").await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn jku_jwk_x5u_and_x5c_headers_never_choose_the_key() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let attacker = attacker_key();
    let attacker_jwk = serde_json::to_value(attacker.public_jwk().expect("jwk")).expect("JSON");
    let pointers = json!({
        "jwk": attacker_jwk,
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "x5c": ["MIIBfake"],
    });
    let header_with = |kid: Option<&str>| {
        let mut header = forger.header();
        header.extend(pointers.as_object().expect("object").clone());
        match kid {
            Some(kid) => header.insert("kid".into(), json!(kid)),
            None => header.remove("kid"),
        };
        header
    };

    // The server's own signature is still checked against the server's key:
    // the pointers are ignored, not obeyed and not a reason to refuse.
    let genuine = forger.sign(&header_with(Some(forger.kid())), &forger.claims);
    let cases = [
        (
            sign_with(
                &attacker,
                &header_with(Some(attacker.kid())),
                &forger.claims,
            ),
            "the attacker's kid and embedded key",
        ),
        (
            sign_with(&attacker, &header_with(Some(forger.kid())), &forger.claims),
            "the server's kid, the attacker's signature and embedded key",
        ),
        (
            sign_with(&attacker, &header_with(None), &forger.claims),
            "no kid, only the attacker's embedded key",
        ),
    ];

    assert_accepted(
        &app,
        &genuine,
        "the server's signature with pointer headers",
    )
    .await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

// ---------------------------------------------------------------------------
// Rule 4: the signature verifies
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_payload_edited_after_signing_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let [h, _, s] = parts(&forger.session.access);
    let with_claims = |claims: &Map<String, Value>| {
        format!(
            "{h}.{}.{s}",
            b64url(serde_json::to_string(claims).expect("JSON"))
        )
    };
    let mut admin = forger.claims();
    admin.insert("roles".into(), json!(["admin"]));
    let mut longer = forger.claims();
    longer.insert(
        "exp".into(),
        json!(forger.claims["exp"].as_i64().expect("exp") + 86_400),
    );
    let reformatted =
        serde_json::to_string_pretty(&forger.claims).expect("the same claims, other whitespace");

    // Signed properly, the admin claims would be believed: only the signature stops them.
    let control = forger.sign(&forger.header, &admin);
    let r = app.get("/auth/verify", Some(&control)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-roles"], "admin");

    assert_refused(&app, &with_claims(&admin), "roles changed to admin").await;
    assert_refused(&app, &with_claims(&longer), "exp pushed back a day").await;
    assert_refused(
        &app,
        &format!("{h}.{}.{s}", b64url(reformatted)),
        "the same claims re-encoded",
    )
    .await;
}

#[tokio::test]
async fn a_signature_by_any_other_key_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let attacker = attacker_key();

    let forged = sign_with(&attacker, &forger.header, &forger.claims);

    assert_accepted(
        &app,
        &forger.sign(&forger.header, &forger.claims),
        "the control",
    )
    .await;
    assert_refused(
        &app,
        &forged,
        "another key's signature under the server's kid",
    )
    .await;
}

#[tokio::test]
async fn ecdsa_signatures_with_r_or_s_out_of_range_are_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let control = forger.sign(&forger.header, &forger.claims);
    let [h, p, s] = parts(&control);
    let signature = b64url_decode(s).expect("signature");
    assert_eq!(signature.len(), 64, "ES256 signatures are r || s");
    let (r, s) = signature.split_at(32);
    let zero = [0u8; 32];
    let n = P256_ORDER;
    let der = {
        let integer = |v: &[u8]| {
            let v = &v[v.iter().position(|&b| b != 0).unwrap_or(31)..];
            let v = if v[0] & 0x80 != 0 {
                [&[0][..], v].concat()
            } else {
                v.to_vec()
            };
            [&[0x02, u8::try_from(v.len()).expect("short")][..], &v].concat()
        };
        let body = [integer(r), integer(s)].concat();
        [&[0x30, u8::try_from(body.len()).expect("short")][..], &body].concat()
    };

    let cases: Vec<(Vec<u8>, &str)> = vec![
        ([zero, zero].concat(), "r = s = 0"),
        ([&zero[..], s].concat(), "r = 0"),
        ([r, &zero[..]].concat(), "s = 0"),
        ([&n[..], s].concat(), "r = n"),
        ([r, &n[..]].concat(), "s = n"),
        ([[0xff; 32], [0xff; 32]].concat(), "r = s = 2^256 - 1"),
        (signature[..63].to_vec(), "a truncated signature"),
        (
            [&signature[..], &[0]].concat(),
            "a signature with a byte appended",
        ),
        (der, "the same signature DER-encoded"),
    ];

    assert_accepted(&app, &control, "the real signature").await;
    for (bytes, what) in cases {
        assert_refused(&app, &format!("{h}.{p}.{}", b64url(bytes)), what).await;
    }
}

// ---------------------------------------------------------------------------
// Rule 5: exp, nbf, iat within the leeway; iss and aud
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_token_is_still_accepted_within_the_leeway_after_exp() {
    let app = TestApp::spawn().await;
    let session = app.register("alice").await;

    app.clock.advance(Duration::from_secs(
        (ACCESS_TTL + LEEWAY - 1).unsigned_abs(),
    ));

    assert_accepted(&app, &session.access, "a token 59 s past exp").await;
}

#[tokio::test]
async fn expired_token_is_refused() {
    let app = TestApp::spawn().await;
    let session = app.register("alice").await;
    assert_accepted(&app, &session.access, "a fresh token").await;

    app.clock
        .advance(Duration::from_secs((ACCESS_TTL + LEEWAY).unsigned_abs()));

    assert_refused(&app, &session.access, "a token 60 s past exp").await;
}

#[tokio::test]
async fn a_forged_exp_in_the_past_beyond_the_leeway_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let now = app.clock.now_secs();

    let within = forger.with_claim("exp", json!(now - LEEWAY + 1));
    let beyond = forger.with_claim("exp", json!(now - LEEWAY));

    assert_accepted(&app, &within, "exp 59 s ago").await;
    assert_refused(&app, &beyond, "exp 60 s ago").await;
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;

    let token = forger.without_claim("exp");

    assert_accepted(
        &app,
        &forger.with_claim("exp", forger.claims["exp"].clone()),
        "exp",
    )
    .await;
    assert_refused(&app, &token, "no exp").await;
}

#[tokio::test]
async fn an_exp_that_is_not_a_number_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let exp = forger.claims["exp"].as_i64().expect("exp");

    let cases = [
        (
            forger.with_claim("exp", json!(exp.to_string())),
            "exp as a string",
        ),
        (forger.with_claim("exp", Value::Null), "exp null"),
        (forger.with_claim("exp", json!([exp])), "exp as an array"),
    ];

    assert_accepted(
        &app,
        &forger.with_claim("exp", json!(exp)),
        "exp as a number",
    )
    .await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn nbf_in_the_future_beyond_the_leeway_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let now = app.clock.now_secs();

    let within = forger.with_claim("nbf", json!(now + LEEWAY));
    let beyond = forger.with_claim("nbf", json!(now + LEEWAY + 1));

    assert_accepted(&app, &within, "nbf 60 s ahead").await;
    assert_refused(&app, &beyond, "nbf 61 s ahead").await;
    assert_refused(
        &app,
        &forger.with_claim("nbf", json!(now + 3600)),
        "nbf in an hour",
    )
    .await;
}

#[tokio::test]
async fn iat_in_the_future_beyond_the_leeway_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let now = app.clock.now_secs();

    let within = forger.with_claim("iat", json!(now + LEEWAY));
    let beyond = forger.with_claim("iat", json!(now + LEEWAY + 1));

    assert_accepted(&app, &within, "iat 60 s ahead").await;
    assert_refused(&app, &beyond, "iat 61 s ahead").await;
    assert_refused(
        &app,
        &forger.with_claim("iat", json!(now + 3600)),
        "iat in an hour",
    )
    .await;
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let iss = forger.claims["iss"].as_str().expect("iss").to_owned();

    let cases = [
        (
            forger.with_claim("iss", json!("https://evil.example")),
            "another issuer",
        ),
        (
            forger.with_claim("iss", json!(format!("{iss}/"))),
            "the issuer with a slash",
        ),
        (
            forger.with_claim("iss", json!(iss.to_uppercase())),
            "the issuer in upper case",
        ),
        (
            forger.with_claim("iss", json!([iss])),
            "the issuer in an array",
        ),
        (forger.without_claim("iss"), "no issuer"),
    ];

    assert_accepted(
        &app,
        &forger.with_claim("iss", json!(iss)),
        "the real issuer",
    )
    .await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let aud = forger.claims["aud"].as_str().expect("aud").to_owned();

    let cases = [
        (
            forger.with_claim("aud", json!("https://api.other.example")),
            "another audience",
        ),
        (
            forger.with_claim("aud", json!(["https://api.other.example"])),
            "an array without ours",
        ),
        (forger.with_claim("aud", json!([])), "an empty array"),
        (
            forger.with_claim("aud", json!(format!("{aud}/"))),
            "ours with a slash",
        ),
        (forger.without_claim("aud"), "no audience"),
    ];

    assert_accepted(
        &app,
        &forger.with_claim("aud", json!(aud)),
        "the real audience",
    )
    .await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn an_audience_array_containing_ours_is_accepted() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let aud = forger.claims["aud"].as_str().expect("aud").to_owned();

    let token = forger.with_claim("aud", json!(["https://api.other.example", aud]));

    assert_accepted(&app, &token, "an audience array with ours").await;
}

// ---------------------------------------------------------------------------
// Rule 6: revocation
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_token_of_a_logged_out_session_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let other = app.login("alice", PASSWORD).await;
    // A token minted later for the same session, with its own jti.
    let mut fresh = forger.claims();
    fresh.insert("jti".into(), json!(new_jti(app.clock.now_ms())));
    let fresh = forger.sign(&forger.header, &fresh);
    assert_accepted(&app, &fresh, "a fresh token of the session").await;

    let r = app
        .post("/auth/logout", Some(&forger.session.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    assert_refused(&app, &forger.session.access, "the logged-out token").await;
    assert_refused(&app, &fresh, "another token of the logged-out session").await;
    assert_accepted(&app, &other.access, "a token of another session").await;
}

// ---------------------------------------------------------------------------
// The Authorization header itself
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_request_without_a_token_gets_a_plain_bearer_challenge() {
    let app = TestApp::spawn().await;

    for path in PROTECTED {
        let r = app.get(path, None).await;

        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer", "{path}");
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
}

#[tokio::test]
async fn another_authentication_scheme_counts_as_no_token() {
    let app = TestApp::spawn().await;
    let session = app.register("alice").await;

    for path in PROTECTED {
        let basic = get_with_authorization(&app, path, b"Basic YWxpY2U6c2VjcmV0").await;
        let token_scheme =
            get_with_authorization(&app, path, format!("Token {}", session.access).as_bytes())
                .await;

        for r in [basic, token_scheme] {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer", "{path}");
            assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        }
    }
}

#[tokio::test]
async fn the_bearer_scheme_name_is_case_insensitive() {
    let app = TestApp::spawn().await;
    let session = app.register("alice").await;

    for scheme in ["Bearer", "bearer", "BEARER"] {
        for path in PROTECTED {
            let value = format!("{scheme} {}", session.access);
            let r = get_with_authorization(&app, path, value.as_bytes()).await;
            assert_eq!(r.status(), StatusCode::OK, "{path} with {scheme}");
        }
    }
}

#[tokio::test]
async fn garbage_authorization_headers_are_invalid_token_never_a_server_error() {
    let app = TestApp::spawn().await;
    let long = format!("Bearer {}", "A".repeat(MAX_TOKEN_BYTES * 2));
    let values: [&[u8]; 14] = [
        b"Bearer <>",
        b"Bearer",
        b"Bearer ",
        b"Bearer a b",
        b"Bearer \"quoted\"",
        b"Bearer \xff\xfe\xfd",
        "Bearer h\u{e9}llo.w\u{f6}rld.\u{2603}".as_bytes(),
        b"Bearer .",
        b"Bearer ..",
        b"Bearer a.b.c",
        b"Bearer e30.e30.e30",
        b"Bearer e30.e30.e30.e30",
        b"Bearer %2e%2e%2f",
        long.as_bytes(),
    ];

    for path in PROTECTED {
        for value in values {
            let r = get_with_authorization(&app, path, value).await;

            let what = format!(
                "{path} with {:?}",
                String::from_utf8_lossy(&value[..value.len().min(40)])
            );
            assert_invalid_token(r, &what).await;
        }
    }
}
