//! `tessera token decode` (header, claims, warnings, no database or key
//! needed) and `token verify` with `--jwks` or `--secret-env`.

use crate::harness::{Env, ISSUER, decode_part, get, register};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).expect("json"))
}

/// An unsigned-looking compact JWS from a header and claims (signature bytes are junk).
fn forge(header: Value, claims: Value) -> String {
    format!(
        "{}.{}.{}",
        b64(&header),
        b64(&claims),
        URL_SAFE_NO_PAD.encode(b"sig")
    )
}

#[tokio::test]
async fn token_decode_prints_header_claims_and_warnings() {
    let env = Env::new();
    let server = env.serve();
    let body = register(&server, "decoder").await;
    let jwt = body["access_token"].as_str().unwrap().to_owned();
    drop(server);

    // A real token: readable, and nothing to warn about.
    let out = env.run(&["token", "decode", &jwt]).ok().stdout;
    assert!(out.contains("header:") && out.contains("claims:"), "{out}");
    assert!(out.contains(r#""alg": "ES256""#), "{out}");
    assert!(out.contains(r#""typ": "at+jwt""#), "{out}");
    assert!(out.contains(r#""username": "decoder""#), "{out}");
    assert!(out.contains(&format!(r#""iss": "{ISSUER}""#)), "{out}");
    assert!(
        out.contains(r#""sid":"#) && out.contains(r#""jti":"#),
        "{out}"
    );
    assert!(!out.contains("warning:"), "{out}");
    // Decoding needs neither a database nor a key.
    let elsewhere = Env::bare(&[]);
    elsewhere.run(&["token", "decode", &jwt]).ok();
    assert!(!elsewhere.path().join("tessera.db").exists());

    let warnings = |jwt: &str| -> Vec<String> {
        env.run(&["token", "decode", jwt])
            .ok()
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("warning: ").map(str::to_owned))
            .collect()
    };
    let has = |w: &[String], needle: &str| w.iter().any(|l| l.contains(needle));

    let w = warnings(&forge(json!({"alg": "none"}), json!({"sub": "x"})));
    assert!(has(&w, "alg is none"), "{w:?}");
    assert!(has(&w, "no exp"), "{w:?}");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let w = warnings(&forge(
        json!({"alg": "HS256", "typ": "JWT"}),
        json!({"sub": "x", "iat": now, "exp": now + 30 * 86_400}),
    ));
    assert!(has(&w, "HS256 is HMAC"), "{w:?}");
    assert!(has(&w, "long lifetime"), "{w:?}");
    assert!(!has(&w, "no exp"), "{w:?}");

    let w = warnings(&forge(
        json!({"alg": "ES256"}),
        json!({"sub": "x", "iat": now, "exp": now + 600, "password": "hunter2", "credit_card": "4111", "ssn": "1"}),
    ));
    for claim in ["password", "credit_card", "ssn"] {
        assert!(
            has(&w, &format!("\"{claim}\" looks sensitive")),
            "{claim}: {w:?}"
        );
    }
    assert!(
        !has(&w, "HMAC") && !has(&w, "lifetime") && !has(&w, "no exp"),
        "{w:?}"
    );

    // Garbage is an error, not a panic.
    for bad in ["not-a-jwt", "%%%.%%%.%%%", "e30"] {
        let run = env.run(&["token", "decode", bad]).fails();
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

#[tokio::test]
async fn token_verify_with_jwks_accepts_a_real_token_and_rejects_a_tampered_one() {
    let env = Env::new();
    let server = env.serve();
    let body = register(&server, "verifier").await;
    let jwt = body["access_token"].as_str().unwrap().to_owned();
    let jwks = server.url("/.well-known/jwks.json");

    let run = env.run(&["token", "verify", &jwt, "--jwks", &jwks]).ok();
    assert!(run.stdout.starts_with("valid"), "{}", run.stdout);
    assert!(
        run.stdout.contains(r#""username": "verifier""#),
        "{}",
        run.stdout
    );

    // Claims changed, signature kept.
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims = decode_part(parts[1]);
    claims["username"] = json!("mallory");
    claims["roles"] = json!(["admin", "user"]);
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    let run = env
        .run(&["token", "verify", &tampered, "--jwks", &jwks])
        .fails();
    assert!(run.stderr.contains("invalid token"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    // Signature changed.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 0x01;
    let bad_sig = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&sig));
    env.run(&["token", "verify", &bad_sig, "--jwks", &jwks])
        .fails();

    // alg none with the same claims.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt"})),
        parts[1]
    );
    env.run(&["token", "verify", &none, "--jwks", &jwks])
        .fails();

    // A verifier expecting another issuer refuses it.
    env.run_with(
        &["token", "verify", &jwt, "--jwks", &jwks],
        None,
        &[("TESSERA_ISSUER", "http://someone-else.test")],
    )
    .fails();

    // An unreachable JWKS is an error, not a hang or a pass.
    drop(server);
    env.run(&["token", "verify", &jwt, "--jwks", &jwks]).fails();
}

#[tokio::test]
async fn token_verify_with_secret_env_for_an_hs256_server() {
    let secret = "a-shared-hmac-secret-for-the-cli-tests-0123";
    let env = Env::new()
        .var("TESSERA_JWT_ALG", "HS256")
        .var("TESSERA_JWT_SECRET", secret);
    let server = env.serve();
    let (_, jwks) = get(&server, "/.well-known/jwks.json", None).await;
    // No public key for HS256: only the RS256 key of ID tokens.
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["alg"], "RS256");
    let body = register(&server, "hmac-user").await;
    let jwt = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(decode_part(jwt.split('.').next().unwrap())["alg"], "HS256");
    drop(server);

    let run = env
        .run_with(
            &["token", "verify", &jwt, "--secret-env", "MY_HS_SECRET"],
            None,
            &[("MY_HS_SECRET", secret)],
        )
        .ok();
    assert!(run.stdout.starts_with("valid"), "{}", run.stdout);
    assert!(
        run.stdout.contains(r#""username": "hmac-user""#),
        "{}",
        run.stdout
    );

    // Another secret: refused.
    let run = env
        .run_with(
            &["token", "verify", &jwt, "--secret-env", "MY_HS_SECRET"],
            None,
            &[("MY_HS_SECRET", "another-secret-that-is-also-long-enough")],
        )
        .fails();
    assert!(run.stderr.contains("invalid token"), "{}", run.stderr);
    // A variable that is not set: named in the error.
    let run = env
        .run(&[
            "token",
            "verify",
            &jwt,
            "--secret-env",
            "NO_SUCH_SECRET_VAR",
        ])
        .fails();
    assert!(run.stderr.contains("NO_SUCH_SECRET_VAR"), "{}", run.stderr);
    // Tampered claims: refused.
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims = decode_part(parts[1]);
    claims["roles"] = json!(["admin", "user"]);
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    env.run_with(
        &["token", "verify", &tampered, "--secret-env", "MY_HS_SECRET"],
        None,
        &[("MY_HS_SECRET", secret)],
    )
    .fails();
}

#[tokio::test]
async fn token_verify_names_what_it_expected_takes_overrides_and_reads_standard_input() {
    let env = Env::new();
    let server = env.serve();
    let body = register(&server, "named").await;
    let jwt = body["access_token"].as_str().unwrap().to_owned();
    let jwks = server.url("/.well-known/jwks.json");
    let elsewhere = [("TESSERA_ISSUER", "http://someone-else.test")];

    let run = env
        .run_with(
            &["token", "verify", &jwt, "--jwks", &jwks],
            None,
            &elsewhere,
        )
        .fails();
    assert!(
        run.stderr.contains(&format!(
            "wrong issuer: expected \"http://someone-else.test\", the token has \"{ISSUER}\""
        )),
        "{}",
        run.stderr
    );
    // --issuer says which to expect.
    let run = env
        .run_with(
            &["token", "verify", &jwt, "--jwks", &jwks, "--issuer", ISSUER],
            None,
            &elsewhere,
        )
        .fails();
    assert!(
        run.stderr.contains("wrong audience"),
        "the audience is still the configured one: {}",
        run.stderr
    );
    env.run_with(
        &[
            "token",
            "verify",
            &jwt,
            "--jwks",
            &jwks,
            "--issuer",
            ISSUER,
            "--audience",
            ISSUER,
        ],
        None,
        &elsewhere,
    )
    .ok();
    // `-` reads the token from standard input, kept out of the shell's history.
    let run = env
        .run_with(
            &["token", "verify", "-", "--jwks", &jwks],
            Some(&format!("{jwt}\n")),
            &[],
        )
        .ok();
    assert!(run.stdout.starts_with("valid"), "{}", run.stdout);
    let run = env
        .run_with(&["token", "decode", "-"], Some(&jwt), &[])
        .ok();
    assert!(
        run.stdout.contains(r#""username": "named""#),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn token_verify_checks_an_id_token_with_its_client_as_audience() {
    let env = Env::new();
    let added = env
        .run(&[
            "client",
            "add",
            "CLI app",
            "--confidential",
            "--grant",
            "password",
            "--scope",
            "openid",
        ])
        .ok()
        .stdout;
    let field = |label: &str| {
        added
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{label}: ")))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{label} in {added}"))
    };
    let (client_id, secret) = (field("client_id"), field("client_secret"));
    let server = env.serve();
    register(&server, "oidc").await;
    let tokens: Value = crate::harness::client()
        .post(server.url("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&username=oidc&password={}&scope=openid",
            crate::harness::PASSWORD.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"));
    let jwks = server.url("/.well-known/jwks.json");
    let run = env
        .run(&[
            "token",
            "verify",
            id_token,
            "--jwks",
            &jwks,
            "--id-token",
            "--audience",
            &client_id,
        ])
        .ok();
    assert!(run.stdout.starts_with("valid ID token"), "{}", run.stdout);
    let run = env
        .run(&[
            "token",
            "verify",
            id_token,
            "--jwks",
            &jwks,
            "--id-token",
            "--audience",
            "another-app",
        ])
        .fails();
    assert!(run.stderr.contains("wrong audience"), "{}", run.stderr);
    // An access token is not an ID token, and an ID token is no access token.
    let access = tokens["access_token"].as_str().unwrap();
    env.run(&["token", "verify", access, "--jwks", &jwks, "--id-token"])
        .fails();
    env.run(&["token", "verify", id_token, "--jwks", &jwks])
        .fails();
}
