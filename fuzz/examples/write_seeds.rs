//! Writes the seed corpus under `fuzz/seeds/<target>/` (run from `fuzz/`:
//! `cargo run --example write_seeds`). Tokens are signed with the fixed
//! fuzzing keys, so the seeds pass verification at the fixed clock.

use serde_json::{Value, json};
use std::fs;
use std::path::Path;
use tessera_fuzz::{
    AUDIENCE, CONFIG_VARS, ISSUER, NOW_MS, REVOKED_SID, keys, policy, revocations, ring,
};
use tessera_token::crypto::b64url;
use tessera_token::keys::{SigningKey, alg_name};
use tessera_token::tokens::{ACCESS_TOKEN_TYP, new_jti, sign_jws, verify_access_token};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        fs::create_dir_all(&dir).expect("create seed dir");
        fs::write(dir.join(name), bytes).expect("write seed");
    };

    let (es, hs) = keys();
    let now = NOW_MS / 1000;
    let claims = json!({
        "iss": ISSUER, "sub": "0190c3a4-0000-7000-8000-000000000001", "aud": AUDIENCE,
        "exp": now + 900, "iat": now, "nbf": now, "jti": new_jti(NOW_MS),
        "sid": "0190c3a4-0000-7000-8000-0000000000aa", "username": "alice",
        "roles": ["user", "admin"],
    });
    let with = |changes: Value| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };
    let header = |key: &SigningKey, typ: &str| json!({"alg": alg_name(key.alg()), "typ": typ, "kid": key.kid()});
    let sign =
        |key: &SigningKey, claims: &Value| sign_jws(key, ACCESS_TOKEN_TYP, claims).expect("sign");

    // fuzz_token: mode 0 is a whole token, modes 1/2 are HEADER\nPAYLOAD
    // signed in the target with the HS256/ES256 key.
    let es_token = sign(es, &claims);
    let hs_token = sign(hs, &claims);
    let client_token = sign(
        es,
        &json!({
            "iss": ISSUER, "sub": "client-1", "aud": [AUDIENCE, "other"],
            "exp": now + 300, "iat": now, "jti": new_jti(NOW_MS),
            "client_id": "client-1", "scope": "read write",
        }),
    );
    let raw: [(&str, String); 9] = [
        ("valid_es256", es_token.clone()),
        ("valid_hs256", hs_token.clone()),
        ("client_credentials", client_token),
        ("expired", sign(es, &with(json!({"exp": now - 3600})))),
        (
            "revoked_session",
            sign(hs, &with(json!({"sid": REVOKED_SID}))),
        ),
        (
            "alg_none",
            format!(
                "{}.{}.",
                b64url(br#"{"alg":"none","typ":"at+jwt"}"#),
                b64url(claims.to_string())
            ),
        ),
        ("not_base64", "abc.def.ghi".into()),
        ("two_parts", "eyJhbGciOiJFUzI1NiJ9.e30".into()),
        ("wrong_key", {
            // An ES256 header and kid over an HS256 signature.
            let mut t = hs_token.rsplit_once('.').expect("dot").0.to_owned();
            t.push('.');
            t.push_str(es_token.rsplit_once('.').expect("dot").1);
            t
        }),
    ];
    for (name, token) in raw {
        // The seeds named valid and client_credentials must verify.
        let outcome = verify_access_token(&token, ring(), revocations(), policy(), NOW_MS);
        assert_eq!(
            outcome.is_ok(),
            name.starts_with("valid") || name == "client_credentials",
            "{name}: {outcome:?}"
        );
        write("fuzz_token", name, format!("0{token}").as_bytes());
    }
    let signed: [(&str, &SigningKey, Value, Value); 9] = [
        ("hs256_claims", hs, header(hs, "at+jwt"), claims.clone()),
        ("es256_claims", es, header(es, "at+jwt"), claims.clone()),
        (
            "es256_long_typ",
            es,
            header(es, "application/at+jwt"),
            claims.clone(),
        ),
        ("hs256_wrong_typ", hs, header(hs, "JWT"), claims.clone()),
        (
            "hs256_crit",
            hs,
            {
                let mut h = header(hs, "at+jwt");
                h["crit"] = json!(["exp"]);
                h
            },
            claims.clone(),
        ),
        (
            "hs256_future_nbf",
            hs,
            header(hs, "at+jwt"),
            with(json!({"nbf": now + 3600})),
        ),
        (
            "hs256_wrong_issuer",
            hs,
            header(hs, "at+jwt"),
            with(json!({"iss": "https://evil.test"})),
        ),
        (
            "hs256_revoked_user",
            hs,
            header(hs, "at+jwt"),
            with(json!({"sub": "revoked-user", "jti": new_jti(NOW_MS - 1)})),
        ),
        (
            "es256_alg_mismatch",
            es,
            {
                let mut h = header(es, "at+jwt");
                h["alg"] = json!("HS256");
                h
            },
            claims.clone(),
        ),
    ];
    for (name, key, h, c) in signed {
        let mode = if key.kid() == hs.kid() { '1' } else { '2' };
        write("fuzz_token", name, format!("{mode}{h}\n{c}").as_bytes());
    }

    // fuzz_authorization_header: the raw header value(s), `\n` between repeats.
    let headers: [(&str, String); 10] = [
        ("bearer_compact", "Bearer abc.def.ghi".into()),
        ("bearer_real", format!("Bearer {es_token}")),
        ("bearer_lowercase", "bearer abc".into()),
        ("bearer_padded", "Bearer   YWJj+/==  ".into()),
        ("bearer_empty", "Bearer".into()),
        ("bearer_two_words", "Bearer a b".into()),
        ("bearer_tab", "Bearer\tabc".into()),
        ("basic", "Basic x".into()),
        (
            "basic_then_bearer",
            "Basic dXNlcjpwYXNz\nBearer abc.def.ghi".into(),
        ),
        ("angle_brackets", "Bearer <script>".into()),
    ];
    for (name, value) in headers {
        write("fuzz_authorization_header", name, value.as_bytes());
    }
    write(
        "fuzz_authorization_header",
        "obs_text",
        b"Bearer \xe2\x82\xac",
    );

    // fuzz_body_validation: schema index byte, then the body.
    let bodies: [(&str, char, &str); 14] = [
        (
            "register",
            '0',
            r#"{"username":"alice","password":"a long passphrase","email":"alice@example.com","first_name":"Alice","last_name":"Liddell","phone":"+44 20 7946 0000"}"#,
        ),
        (
            "register_minimal",
            '0',
            r#"{"username":"bob_1.x-y","password":"correct horse battery"}"#,
        ),
        (
            "register_short_password",
            '0',
            r#"{"username":"al","password":"hunter2","email":"not-an-email"}"#,
        ),
        (
            "register_nulls",
            '0',
            r#"{"username":"carol","password":"another long one","email":null,"phone":null}"#,
        ),
        (
            "login",
            '1',
            r#"{"username":"alice","password":"a long passphrase"}"#,
        ),
        ("login_extra_field", '1', r#"{"username":"a","admin":true}"#),
        ("refresh", '2', r#"{"refresh_token":"rt_0123456789abcdef"}"#),
        (
            "user_update",
            '3',
            r#"{"email":null,"first_name":"Al","roles":["user","admin"],"disabled":false}"#,
        ),
        ("user_update_empty", '3', r#"{}"#),
        (
            "user_update_null_roles",
            '3',
            r#"{"roles":null,"disabled":null}"#,
        ),
        (
            "password_change",
            '4',
            r#"{"current_password":"old password!!","new_password":"a new long passphrase"}"#,
        ),
        ("unknown_schema", '5', r#"{"username":"alice"}"#),
        ("malformed", '1', r#"{"username":"alice","password":"#),
        ("not_object", '0', r#"[1,"two",{"three":3.0e10}]"#),
    ];
    for (name, pick, body) in bodies {
        write(
            "fuzz_body_validation",
            name,
            format!("{pick}{body}").as_bytes(),
        );
    }

    // fuzz_config: line i is the value of CONFIG_VARS[i]; every line is also
    // parsed as a duration.
    let config = |pairs: &[(&str, &str)]| {
        let lines: Vec<&str> = CONFIG_VARS
            .iter()
            .map(|var| pairs.iter().find(|(k, _)| k == var).map_or("", |(_, v)| *v))
            .collect();
        let mut text = lines.join("\n");
        while text.ends_with('\n') {
            text.pop();
        }
        text
    };
    let configs: [(&str, String); 7] = [
        ("defaults", String::new()),
        (
            "durations",
            config(&[
                ("TESSERA_ACCESS_TTL", "15m"),
                ("TESSERA_REFRESH_TTL", "14d"),
                ("TESSERA_SESSION_MAX_AGE", "90d"),
                ("TESSERA_LEEWAY", "0s"),
                ("TESSERA_REFRESH_GRACE", "10"),
                ("TESSERA_KEY_ROTATION", "30d"),
                ("TESSERA_KEY_PREPUBLISH", "1h"),
                ("TESSERA_LOCKOUT_MAX", "15m"),
                ("TESSERA_HEADER_TIMEOUT", "10s"),
                ("TESSERA_REQUEST_TIMEOUT", "30s"),
            ]),
        ),
        (
            "hmac",
            config(&[
                ("TESSERA_JWT_ALG", "HS256"),
                (
                    "TESSERA_JWT_SECRET",
                    "base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                ),
                ("TESSERA_KEY_ROTATION", "off"),
            ]),
        ),
        (
            "full",
            config(&[
                ("TESSERA_BIND", "0.0.0.0:8443"),
                (
                    "TESSERA_DATABASE_URL",
                    "postgres://tessera@localhost/tessera",
                ),
                ("TESSERA_ISSUER", "https://id.example.com/"),
                ("TESSERA_AUDIENCE", "https://api.example.com"),
                ("TESSERA_JWT_ALG", "EdDSA"),
                (
                    "TESSERA_MASTER_KEY",
                    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                ),
                (
                    "TESSERA_TRUSTED_PROXIES",
                    "10.0.0.0/8, 192.168.1.1, ::1, fd00::/8",
                ),
                ("TESSERA_LOGIN_MAX_FAILURES", "10"),
                ("TESSERA_REGISTRATION_RATE", "5/h"),
                ("TESSERA_ALLOW_REGISTRATION", "no"),
                ("TESSERA_ADMIN_USERNAME", "admin"),
                ("TESSERA_ADMIN_PASSWORD", "correct horse battery staple"),
                ("TESSERA_PASSWORD_MIN_LENGTH", "16"),
                (
                    "TESSERA_CORS_ORIGINS",
                    "https://app.example.com/, https://admin.example.com",
                ),
                ("TESSERA_LOG_FORMAT", "json"),
                ("TESSERA_MAX_CONNECTIONS", "1000"),
                ("TESSERA_LOG", "tessera=debug,info"),
            ]),
        ),
        (
            "bad_values",
            config(&[
                ("TESSERA_ACCESS_TTL", "0"),
                ("TESSERA_KEY_PREPUBLISH", "9999999999999d"),
                ("TESSERA_BIND", ":0"),
                ("TESSERA_JWT_ALG", "none"),
                ("TESSERA_REGISTRATION_RATE", "0/s"),
            ]),
        ),
        (
            "plain_secret",
            config(&[
                ("TESSERA_JWT_ALG", "HS512"),
                ("TESSERA_JWT_SECRET", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"),
                ("TESSERA_ADMIN_PASSWORD", "only the password"),
            ]),
        ),
        (
            "duration_forms",
            "900\n900s\n15m\n12h\n14d\n0s\n 5m \n1.5h\n-5s\n5w\n99999999999d".into(),
        ),
    ];
    for (name, text) in configs {
        write("fuzz_config", name, text.as_bytes());
    }
}
