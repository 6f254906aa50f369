//! The conventions of SPEC §2 and the operational endpoints: content types,
//! body limits, the error shape, `WWW-Authenticate`, security headers,
//! malformed and odd input, forward-auth, health, metrics, OpenAPI, the
//! published schemas and CORS.

use crate::helpers::*;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// Sends a raw body with an optional `Content-Type`.
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut req = app.client.request(method, app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request")
}

fn detail_paths(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|e| e["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn header<'r>(r: &'r Response, name: &str) -> Option<&'r str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

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

/// Every endpoint that takes a bearer token, with a body it would accept.
fn bearer_endpoints() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::POST, "/auth/logout", Some(json!({}))),
        (Method::POST, "/auth/logout-all", Some(json!({}))),
        (Method::GET, "/auth/verify", None),
        (Method::GET, "/me", None),
        (Method::GET, "/users", None),
        (Method::GET, "/users/alice", None),
        (
            Method::PATCH,
            "/users/alice",
            Some(json!({"first_name": "Alice"})),
        ),
        (
            Method::POST,
            "/users/alice/password",
            Some(
                json!({"current_password": PASSWORD, "new_password": "another-long-passphrase-7"}),
            ),
        ),
        (Method::DELETE, "/users/alice", None),
        (Method::GET, "/users/alice/sessions", None),
        (
            Method::DELETE,
            "/sessions/00000000-0000-0000-0000-000000000000",
            None,
        ),
        (Method::GET, "/admin/keys", None),
        (Method::POST, "/admin/keys/rotate", Some(json!({}))),
        (Method::GET, "/admin/audit", None),
    ]
}

#[tokio::test]
async fn every_401_from_a_bearer_endpoint_carries_www_authenticate() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let garbage_headers: [&[u8]; 7] = [
        b"Bearer garbage",
        b"Bearer a.b.c",
        b"Bearer <script>",
        b"Bearer",
        b"Bearer \xff\xfe",
        b"bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        b"Bearer a b",
    ];
    for (method, path, body) in bearer_endpoints() {
        // No credentials at all: unauthenticated, a bare challenge.
        let r = app.send(method.clone(), path, None, body.clone()).await;
        assert_eq!(
            header(&r, "www-authenticate"),
            Some("Bearer"),
            "{method} {path}"
        );
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        // Another scheme is no bearer token either.
        let mut req = app
            .client
            .request(method.clone(), app.url(path))
            .basic_auth("alice", Some(PASSWORD));
        if let Some(b) = &body {
            req = req.json(b);
        }
        let r = req.send().await.expect("request");
        assert_eq!(
            header(&r, "www-authenticate"),
            Some("Bearer"),
            "{method} {path}"
        );
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        // A token that is presented and bad: error="invalid_token".
        for raw in garbage_headers {
            let mut req = app.client.request(method.clone(), app.url(path)).header(
                "authorization",
                HeaderValue::from_bytes(raw).expect("header"),
            );
            if let Some(b) = &body {
                req = req.json(b);
            }
            let r = req.send().await.expect("request");
            assert_eq!(
                header(&r, "www-authenticate"),
                Some("Bearer error=\"invalid_token\""),
                "{method} {path} {}",
                String::from_utf8_lossy(raw)
            );
            assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
        }
    }
    // An expired token too.
    app.clock.advance(Duration::from_secs(15 * 60 + 61));
    for (method, path, body) in bearer_endpoints() {
        let r = app
            .send(method.clone(), path, Some(&alice.access), body)
            .await;
        assert_eq!(
            header(&r, "www-authenticate"),
            Some("Bearer error=\"invalid_token\""),
            "{method} {path}"
        );
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

#[tokio::test]
async fn every_answer_carries_nosniff() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let big = "x".repeat(70 * 1024);
    let responses = vec![
        app.get("/healthz", None).await,
        app.get("/me", Some(&alice.access)).await,
        app.get("/me", None).await,
        app.get("/nope", None).await,
        app.get("/auth/login", None).await,
        app.get("/.well-known/jwks.json", None).await,
        app.get("/metrics", None).await,
        app.post("/auth/login", None, json!({"username": "alice"}))
            .await,
        send_raw(
            &app,
            Method::POST,
            "/auth/login",
            None,
            Some("text/plain"),
            "x",
        )
        .await,
        send_raw(
            &app,
            Method::POST,
            "/auth/login",
            None,
            Some("application/json"),
            big,
        )
        .await,
    ];
    for r in responses {
        assert_eq!(
            header(&r, "x-content-type-options"),
            Some("nosniff"),
            "{} {}",
            r.url(),
            r.status()
        );
    }
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    let registered = json_body(r).await;

    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");

    let r = app
        .refresh(registered["refresh_token"].as_str().unwrap_or_default())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    assert!(r.headers().get("pragma").is_some_and(|v| v == "no-cache"));
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

#[tokio::test]
async fn forward_auth_verify_answers_with_identity_headers() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let r = app.get("/auth/verify", Some(&alice.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = alice.body["user"]["id"].as_str().expect("id").to_owned();
    assert_eq!(header(&r, "x-auth-subject"), Some(id.as_str()));
    assert_eq!(header(&r, "x-auth-username"), Some("alice"));
    assert_eq!(header(&r, "x-auth-roles"), Some("user"));
    assert!(r.bytes().await.expect("body").is_empty());

    let admin = app.admin("root").await;
    let r = app.get("/auth/verify", Some(&admin.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let roles: Vec<&str> = header(&r, "x-auth-roles")
        .unwrap_or_default()
        .split(',')
        .collect();
    assert_eq!(roles.len(), 2, "{roles:?}");
    assert!(roles.contains(&"admin") && roles.contains(&"user"));

    // 401 otherwise: no token, garbage, after logout.
    let r = app.get("/auth/verify", None).await;
    assert!(r.headers().get("x-auth-subject").is_none());
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = app.get("/auth/verify", Some("not-a-token")).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let r = app
        .post("/auth/logout", Some(&alice.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get("/auth/verify", Some(&alice.access)).await;
    assert!(r.headers().get("x-auth-subject").is_none());
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

/// The value of the metric line that starts with `prefix`, if any.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::OK);

    let user = app.register("zebulon-the-unique").await;
    let r = app
        .get("/users/zebulon-the-unique", Some(&user.access))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get("/users/quentin-nobody", Some(&user.access)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.get("/secret-probe-path", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.login("zebulon-the-unique", PASSWORD).await;
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "zebulon-the-unique", "password": "wrong-password-here"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&user.refresh).await.status(), StatusCode::OK);
    assert_eq!(
        app.refresh("no-such-token").await.status(),
        StatusCode::UNAUTHORIZED
    );

    let r = app.get("/metrics", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        header(&r, "content-type").is_some_and(|ct| ct.starts_with("text/plain")),
        "Prometheus text format"
    );
    let text = r.text().await.expect("text");
    assert!(text.contains("# TYPE tessera_http_requests_total counter"));
    let users_200 = metric(
        &text,
        "tessera_http_requests_total{method=\"GET\",route=\"/users/{username}\",status=\"200\"}",
    );
    assert_eq!(users_200, Some(1.0), "{text}");
    let users_404 = metric(
        &text,
        "tessera_http_requests_total{method=\"GET\",route=\"/users/{username}\",status=\"404\"}",
    );
    assert_eq!(users_404, Some(1.0), "{text}");
    assert!(
        metric(
            &text,
            "tessera_http_requests_total{method=\"POST\",route=\"/auth/register\",status=\"201\"}"
        )
        .is_some()
    );
    // Route templates only: never a raw username or path.
    for raw in ["zebulon", "quentin", "secret-probe-path"] {
        assert!(!text.contains(raw), "{raw} leaked into the metrics");
    }
    for (op, outcome) in [
        ("login", "success"),
        ("login", "failure"),
        ("refresh", "success"),
        ("refresh", "failure"),
    ] {
        let line =
            format!("tessera_auth_outcomes_total{{operation=\"{op}\",outcome=\"{outcome}\"}}");
        assert_eq!(metric(&text, &line), Some(1.0), "{line} in {text}");
    }
}

#[tokio::test]
async fn openapi_31_lists_every_endpoint() {
    let app = TestApp::spawn().await;
    let r = app.get("/openapi.json", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc = json_body(r).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let expected: [(&str, &[&str]); 23] = [
        ("/auth/register", &["post"]),
        ("/auth/login", &["post"]),
        ("/auth/refresh", &["post"]),
        ("/auth/logout", &["post"]),
        ("/auth/logout-all", &["post"]),
        ("/auth/verify", &["get"]),
        ("/me", &["get"]),
        ("/users", &["get"]),
        ("/users/{username}", &["get", "patch", "delete"]),
        ("/users/{username}/password", &["post"]),
        ("/users/{username}/sessions", &["get"]),
        ("/sessions/{id}", &["delete"]),
        ("/.well-known/jwks.json", &["get"]),
        ("/.well-known/openid-configuration", &["get"]),
        ("/admin/keys", &["get"]),
        ("/admin/keys/rotate", &["post"]),
        ("/admin/audit", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/openapi.json", &["get"]),
        ("/schemas", &["get"]),
        ("/schemas/{name}", &["get"]),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in expected {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is missing from the OpenAPI document"));
        for m in methods {
            assert!(item.get(*m).is_some(), "{m} {path}");
        }
    }
    // Request bodies are the schemas the server enforces.
    let register = &doc["components"]["schemas"]["RegisterBody"];
    assert_eq!(register["additionalProperties"], false);
    assert_eq!(register["properties"]["password"]["minLength"], 12);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn schemas_are_published_and_follow_the_password_minimum() {
    let app = TestApp::builder()
        .env("TESSERA_PASSWORD_MIN_LENGTH", "20")
        .spawn()
        .await;
    let list = json_body(app.get("/schemas", None).await).await;
    let names: Vec<&str> = list["schemas"]
        .as_array()
        .expect("schemas")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    for name in [
        "register",
        "login",
        "refresh",
        "user_update",
        "password_change",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
        let r = app.get(&format!("/schemas/{name}.json"), None).await;
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        let schema = json_body(r).await;
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert_eq!(schema["additionalProperties"], false, "{name}");
    }

    let r = app.get("/schemas/register.json", None).await;
    assert!(header(&r, "content-type").is_some_and(|ct| ct.contains("json")));
    let register = json_body(r).await;
    assert_eq!(register["type"], "object");
    assert_eq!(register["properties"]["password"]["minLength"], 20);
    assert_eq!(register["properties"]["password"]["maxLength"], 128);
    let change = json_body(app.get("/schemas/password_change.json", None).await).await;
    assert_eq!(change["properties"]["new_password"]["minLength"], 20);

    // The server enforces what it publishes.
    let nineteen = "river-lantern-zebra";
    assert_eq!(nineteen.chars().count(), 19);
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "alice", "password": nineteen}),
        )
        .await;
    let err = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(detail_paths(&err), vec!["/password"]);
    assert_eq!(
        err["error"]["details"][0]["message"],
        "shorter than 20 characters"
    );
    let twenty = format!("{nineteen}s");
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "alice", "password": twenty}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn cors_get(app: &TestApp, origin: &str) -> Response {
    app.client
        .get(app.url("/healthz"))
        .header("origin", origin)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = TestApp::builder()
        .env(
            "TESSERA_CORS_ORIGINS",
            "https://app.example.com, https://admin.example.com",
        )
        .spawn()
        .await;
    let r = cors_get(&app, "https://app.example.com").await;
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let r = cors_get(&app, "https://admin.example.com").await;
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://admin.example.com")
    );
    for other in [
        "https://evil.example.com",
        "http://app.example.com",
        "https://app.example.com.evil.net",
        "null",
    ] {
        let r = cors_get(&app, other).await;
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "{other}"
        );
    }

    // A preflight for a JSON POST from an allowed origin.
    let r = app
        .client
        .request(Method::OPTIONS, app.url("/auth/login"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("preflight");
    assert!(r.status().is_success());
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        header(&r, "access-control-allow-methods").is_some_and(|m| m.contains("POST")),
        "{:?}",
        r.headers()
    );
    let r = app
        .client
        .request(Method::OPTIONS, app.url("/auth/login"))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(r.headers().get("access-control-allow-origin").is_none());

    // Without the variable, no origin is allowed.
    let plain = TestApp::spawn().await;
    for origin in ["https://app.example.com", "http://localhost:3000"] {
        let r = cors_get(&plain, origin).await;
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "{origin}"
        );
    }
}
