//! What a request's body, method and path may be (SPEC §2): content types,
//! the body limit, malformed JSON, wrong types and unknown fields, unknown
//! methods and paths, and odd input that must never give a 500.

use super::{detail_paths, header, send_raw};
use crate::helpers::*;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn json_endpoints_refuse_other_content_types_with_415() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let login = json!({"username": "alice", "password": PASSWORD}).to_string();

    for ct in [
        Some("text/plain"),
        Some("text/plain; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
        None,
    ] {
        let r = send_raw(&app, Method::POST, "/auth/login", None, ct, login.clone()).await;
        assert_error(
            r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    // No Content-Type and no body either.
    let r = send_raw(&app, Method::POST, "/auth/register", None, None, "").await;
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // Also behind a bearer token.
    let r = send_raw(
        &app,
        Method::PATCH,
        "/users/alice",
        Some(&alice.access),
        Some("text/plain"),
        r#"{"first_name": "Alice"}"#,
    )
    .await;
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    // application/json with parameters, in any case, is JSON.
    for ct in ["application/json; charset=utf-8", "Application/JSON"] {
        let r = send_raw(
            &app,
            Method::POST,
            "/auth/login",
            None,
            Some(ct),
            login.clone(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{ct}");
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_with_413() {
    let app = TestApp::spawn().await;
    let big = json!({"username": "alice", "password": "x".repeat(70 * 1024)}).to_string();
    assert!(big.len() > 64 * 1024);
    let r = send_raw(
        &app,
        Method::POST,
        "/auth/register",
        None,
        Some("application/json"),
        big,
    )
    .await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Just under the limit the body is read, and refused by the schema instead.
    let under = json!({"username": "alice", "password": "x".repeat(60 * 1024)}).to_string();
    let r = send_raw(
        &app,
        Method::POST,
        "/auth/register",
        None,
        Some("application/json"),
        under,
    )
    .await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(detail_paths(&body), vec!["/password"]);
    // The server is still fine.
    app.register("alice").await;
}

#[tokio::test]
async fn broken_json_is_400_malformed_json() {
    let app = TestApp::spawn().await;
    let broken: [&[u8]; 8] = [
        br#"{"username": "alice","#,
        b"not json",
        b"",
        br#"{"username": "alice", "password": "x"} trailing"#,
        br#"{"username": 'alice'}"#,
        br#"{"username": "\ud800", "password": "plausible-passphrase-42"}"#,
        b"{\"username\": \"al\xffice\", \"password\": \"plausible-passphrase-42\"}",
        br#"{"username": "alice", "username": "bob", "password": }"#,
    ];
    for body in broken {
        let r = send_raw(
            &app,
            Method::POST,
            "/auth/register",
            None,
            Some("application/json"),
            body.to_vec(),
        )
        .await;
        let err = assert_error(r, StatusCode::BAD_REQUEST, "malformed_json").await;
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[tokio::test]
async fn wrong_types_and_unknown_fields_are_validation_failed_with_paths() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let cases = [
        (
            "/auth/register",
            json!({"username": 5, "password": PASSWORD}),
            vec!["/username"],
        ),
        (
            "/auth/register",
            json!({"username": "bob", "password": PASSWORD, "admin": true}),
            vec!["/admin"],
        ),
        (
            "/auth/register",
            json!({"username": "bob", "password": "short"}),
            vec!["/password"],
        ),
        (
            "/auth/register",
            json!({"username": "b", "password": PASSWORD, "email": "not-an-email"}),
            vec!["/email", "/username"],
        ),
        (
            "/auth/login",
            json!({"username": "alice"}),
            vec!["/password"],
        ),
        (
            "/auth/login",
            json!({"username": ["alice"], "password": true, "roles": ["admin"]}),
            vec!["/password", "/roles", "/username"],
        ),
        ("/auth/login", json!("alice"), vec![""]),
        (
            "/auth/refresh",
            json!({"token": "x"}),
            vec!["/refresh_token", "/token"],
        ),
    ];
    for (path, body, expected) in cases {
        let r = app.post(path, None, body.clone()).await;
        let err = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
        let mut paths = detail_paths(&err);
        paths.sort();
        assert_eq!(paths, expected, "{path} {body}");
        for d in err["error"]["details"].as_array().into_iter().flatten() {
            assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
    // The details never quote the submitted password.
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "bob", "password": "s3cret!"}),
        )
        .await;
    let err = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert!(!err.to_string().contains("s3cret!"));

    // PATCH with wrong types and unknown fields.
    for (body, expected) in [
        (json!({"first_name": 3}), vec!["/first_name"]),
        (json!({"nickname": "al"}), vec!["/nickname"]),
        (
            json!({"phone": {"n": 1}, "password": "x"}),
            vec!["/password", "/phone"],
        ),
    ] {
        let r = app
            .patch("/users/alice", Some(&alice.access), body.clone())
            .await;
        let err = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
        let mut paths = detail_paths(&err);
        paths.sort();
        assert_eq!(paths, expected, "{body}");
    }
}

#[tokio::test]
async fn unsupported_methods_are_405_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    for (method, path) in [
        (Method::GET, "/auth/login"),
        (Method::GET, "/auth/register"),
        (Method::PUT, "/auth/refresh"),
        (Method::DELETE, "/me"),
        (Method::POST, "/me"),
        (Method::PUT, "/users/alice"),
        (
            Method::GET,
            "/sessions/00000000-0000-0000-0000-000000000000",
        ),
        (Method::POST, "/.well-known/jwks.json"),
        (Method::DELETE, "/healthz"),
    ] {
        let r = app
            .send(method.clone(), path, Some(&alice.access), None)
            .await;
        assert_eq!(header(&r, "x-content-type-options"), Some("nosniff"));
        // RFC 9110 §15.5.6: a 405 names the methods that are allowed.
        assert!(
            header(&r, "allow").is_some_and(|a| !a.is_empty() && !a.contains(method.as_str())),
            "Allow on {method} {path}: {:?}",
            r.headers().get("allow")
        );
        assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::POST, "/auth/nope"),
        (Method::GET, "/users/alice/nope"),
        (Method::GET, "/.well-known/nope"),
        (Method::DELETE, "/nope/nope"),
    ] {
        let r = app.send(method, path, Some(&alice.access), None).await;
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let r = app.get("/schemas/nope.json", None).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.get("/users/nobody", Some(&alice.access)).await;
    assert_error(r, StatusCode::NOT_FOUND, "user_not_found").await;
}

/// Odd Unicode and SQL metacharacters.
const ODD: [&str; 12] = [
    "' OR 1=1 --",
    "\u{0000}",
    "nul\u{0000}inside",
    "😀🔐🦀",
    "\u{202E}gnp.exe\u{202C}",
    "\u{200F}\u{200E}rtl",
    "Robert'); DROP TABLE users;--",
    "\\\"%_*?\n\r\t",
    "ｓｔｒａｎｇｅ",
    "e\u{0301}\u{0301}\u{0301}",
    "\u{FEFF}bom",
    "\u{10FFFF}",
];

/// Sends every odd string through every field that takes text; nothing may be a 500.
async fn odd_input_never_gives_a_500(app: TestApp) {
    let alice = app.register("alice").await;
    let admin = app.admin("root").await;
    let no_500 = |r: &Response, what: &str| {
        assert!(
            r.status().is_client_error() || r.status().is_success(),
            "{what}: {}",
            r.status()
        );
    };
    for (i, odd) in ODD.iter().enumerate() {
        // As a username: refused by the pattern, never stored.
        let r = app
            .post(
                "/auth/register",
                None,
                json!({"username": odd, "password": PASSWORD}),
            )
            .await;
        let err = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert_eq!(detail_paths(&err), vec!["/username"], "{odd:?}");
        let r = app
            .post(
                "/auth/login",
                None,
                json!({"username": odd, "password": odd}),
            )
            .await;
        no_500(&r, &format!("login with username {odd:?}"));
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

        // As a password: any Unicode, stored and checked faithfully.
        let password = format!("{odd}{odd}-a-long-enough-passphrase");
        let username = format!("odd{i}");
        let r = app
            .post(
                "/auth/register",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "password {password:?}");
        let r = app
            .post(
                "/auth/login",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "login with password {password:?}"
        );
        let r = app
            .post(
                "/auth/login",
                None,
                json!({"username": username, "password": odd}),
            )
            .await;
        no_500(&r, &format!("login with password {odd:?}"));

        // As names and contact fields.
        let r = app
            .patch(
                "/users/alice",
                Some(&alice.access),
                json!({"first_name": odd, "last_name": odd, "phone": odd}),
            )
            .await;
        no_500(&r, &format!("profile {odd:?}"));
        if r.status().is_success() {
            let user = json_body(r).await;
            assert_eq!(user["user"]["first_name"], *odd, "stored as sent");
        } else {
            assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
        }
        let r = app
            .patch(
                "/users/alice",
                Some(&alice.access),
                json!({"email": format!("{odd}@example.com")}),
            )
            .await;
        no_500(&r, &format!("email {odd:?}"));
        let r = app
            .patch("/users/alice", Some(&admin.access), json!({"roles": [odd]}))
            .await;
        no_500(&r, &format!("roles {odd:?}"));
        // In paths and queries.
        let encoded: String = odd.bytes().map(|b| format!("%{b:02X}")).collect();
        for path in [
            format!("/users/{encoded}"),
            format!("/users/{encoded}/sessions"),
            format!("/sessions/{encoded}"),
            format!("/users?cursor={encoded}"),
            format!("/users?limit={encoded}"),
            format!("/admin/audit?user={encoded}&event={encoded}"),
            format!("/schemas/{encoded}"),
        ] {
            let r = app.get(&path, Some(&admin.access)).await;
            no_500(&r, &format!("{path} ({odd:?})"));
            if !r.status().is_success() {
                let body: Value = r.json().await.expect("error body is JSON");
                assert!(body["error"]["code"].is_string(), "{path}: {body}");
            }
        }
        let r = app
            .send(
                Method::DELETE,
                &format!("/users/{encoded}"),
                Some(&admin.access),
                None,
            )
            .await;
        assert_error(r, StatusCode::NOT_FOUND, "user_not_found").await;
        let r = app.refresh(odd).await;
        no_500(&r, &format!("refresh {odd:?}"));
    }
    // Alice is still whole.
    let me = json_body(app.get("/me", Some(&alice.access)).await).await;
    assert_eq!(me["user"]["username"], "alice");
    // Every failed login was audited, odd names included.
    let audit = json_body(
        app.get(
            "/admin/audit?event=login.failed&limit=500",
            Some(&admin.access),
        )
        .await,
    )
    .await;
    let failed = audit["entries"].as_array().map_or(0, Vec::len);
    assert_eq!(failed, 2 * ODD.len(), "{audit}");
}

#[tokio::test]
async fn odd_unicode_and_sql_metacharacters_never_give_a_500() {
    let app = TestApp::builder()
        .env("TESSERA_REGISTRATION_RATE", "1000/min")
        .env("TESSERA_LOGIN_MAX_FAILURES", "100")
        .spawn()
        .await;
    odd_input_never_gives_a_500(app).await;
}

#[tokio::test]
async fn odd_unicode_and_sql_metacharacters_never_give_a_500_on_postgres() {
    if let Some(app) = TestApp::builder()
        .postgres()
        .env("TESSERA_REGISTRATION_RATE", "1000/min")
        .env("TESSERA_LOGIN_MAX_FAILURES", "100")
        .try_spawn()
        .await
    {
        odd_input_never_gives_a_500(app).await;
    }
}
