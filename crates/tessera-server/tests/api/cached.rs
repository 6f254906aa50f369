//! Tokens already verified once — and so answered from the cache of
//! verified tokens — are refused the moment they stop being valid: after a
//! logout, a role change, disabling the user, or their expiry.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// Verifies `access` twice, so the second answer comes from the cache.
async fn verify_twice(app: &TestApp, access: &str) {
    for _ in 0..2 {
        let r = app.get("/auth/verify", Some(access)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}

async fn assert_refused(app: &TestApp, access: &str) {
    for path in ["/auth/verify", "/me"] {
        let r = app.get(path, Some(access)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn a_cached_token_is_refused_after_its_session_logs_out() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    verify_twice(&app, &bob.access).await;

    let r = app.post("/auth/logout", Some(&bob.access), json!({})).await;

    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_refused(&app, &bob.access).await;
}

#[tokio::test]
async fn a_cached_token_is_refused_after_a_role_change() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let root = app.admin("root").await;
    verify_twice(&app, &bob.access).await;
    app.clock.advance(Duration::from_secs(1));

    let r = app
        .patch(
            "/users/bob",
            Some(&root.access),
            json!({"roles": ["editor"]}),
        )
        .await;

    assert_eq!(r.status(), StatusCode::OK);
    assert_refused(&app, &bob.access).await;
    verify_twice(&app, &root.access).await;
}

#[tokio::test]
async fn a_cached_token_is_refused_once_its_user_is_disabled() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let root = app.admin("root").await;
    verify_twice(&app, &bob.access).await;

    let r = app
        .patch("/users/bob", Some(&root.access), json!({"disabled": true}))
        .await;

    assert_eq!(r.status(), StatusCode::OK);
    assert_refused(&app, &bob.access).await;
}

#[tokio::test]
async fn a_cached_token_is_refused_once_it_expires() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    verify_twice(&app, &bob.access).await;

    // Access tokens live 15 minutes; the leeway is 60 seconds.
    app.clock.advance(Duration::from_secs(15 * 60 + 59));
    verify_twice(&app, &bob.access).await;
    app.clock.advance(Duration::from_secs(1));

    assert_refused(&app, &bob.access).await;
}
