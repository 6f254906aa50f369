//! Rule 4, the signature: forging with the server's real key works (the
//! control every other test relies on); an edited payload, another key's
//! signature, or ECDSA `r`/`s` out of range or re-encoded do not.

use super::*;
use tessera_token::tokens::sign_jws;

/// The order of the P-256 group; ECDSA scalars must lie in `1..N`.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

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
