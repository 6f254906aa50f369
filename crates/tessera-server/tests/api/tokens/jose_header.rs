//! Rules 2 and 3, the JOSE header: `alg` is pinned by the key `kid` names
//! (no `none`, no HMAC keyed with the public key), `typ` is `at+jwt`, `crit`
//! is refused, and `jku`/`jwk`/`x5u`/`x5c` never choose the key.

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

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
