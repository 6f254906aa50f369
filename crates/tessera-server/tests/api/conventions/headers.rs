//! The headers answers carry (SPEC §2): `WWW-Authenticate` on every 401
//! from a bearer endpoint, `nosniff` everywhere, no caching of token
//! responses, and CORS for the configured origins only.

use super::{header, send_raw};
use crate::helpers::*;
use reqwest::header::{CACHE_CONTROL, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

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
