//! Rule 1: a token is three non-empty parts of strict, canonical, unpadded
//! base64url, at most 8 KiB, each a JSON object without duplicate members.

use super::*;
use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// What a forgiving decoder would accept: padding optional, any trailing bits.
/// Used only to prove a forged part still *means* the same bytes.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

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
