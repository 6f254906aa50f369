//! The same server on PostgreSQL, end to end: the README walk-through,
//! concurrent refreshes and registrations, and two replicas sharing one
//! database. Each test is skipped (returns early) only when PostgreSQL is
//! unreachable outside CI; under `CI=true` the harness panics instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::*;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// One issuer for replicas behind one public address (the default issuer
/// would name each replica's own port).
const SHARED_ISSUER: &str = "http://tessera.replicas.test";

/// The kids of a JWK Set.
fn kids(jwks: &Value) -> BTreeSet<String> {
    jwks["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test]
async fn postgres_register_login_me_refresh_logout_then_the_old_token_is_refused() {
    let Some(app) = TestApp::builder().postgres().try_spawn().await else {
        return;
    };
    assert!(app.database_url.starts_with("postgres"));
    let registered = app.register("alice").await;
    assert_eq!(registered.body["token_type"], "Bearer");
    assert_eq!(registered.body["user"]["username"], "alice");
    assert_eq!(registered.body["user"]["roles"], json!(["user"]));

    let login = app.login("ALICE", PASSWORD).await;
    let me = json_body(app.get("/me", Some(&login.access)).await).await;
    assert_eq!(me["user"]["username"], "alice");
    assert_eq!(me["user"]["id"], registered.body["user"]["id"]);

    let refreshed = app.refresh(&login.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed = json_body(refreshed).await;
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    let successor = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(successor, login.refresh);
    assert_eq!(app.get("/me", Some(&access)).await.status(), StatusCode::OK);

    let r = app.post("/auth/logout", Some(&access), json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get("/me", Some(&access)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // Every access token of the session goes, not only the one presented.
    let r = app.get("/me", Some(&login.access)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let r = app.refresh(&successor).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    // The registration's session is untouched.
    assert_eq!(
        app.get("/me", Some(&registered.access)).await.status(),
        StatusCode::OK
    );
    // Wrong password and unknown user alike.
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "alice", "password": "not-the-password-at-all"}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    app.stop().await;
}

#[tokio::test]
async fn postgres_concurrent_refreshes_of_one_token_all_get_the_same_successor() {
    let Some(app) = TestApp::builder().postgres().try_spawn().await else {
        return;
    };
    let bob = app.register("bob").await;
    let answers = join_all((0..20).map(|_| app.refresh(&bob.refresh))).await;
    let mut successors = BTreeSet::new();
    let mut access_tokens = Vec::new();
    for r in answers {
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "every repeat inside the grace window"
        );
        let body = json_body(r).await;
        successors.insert(body["refresh_token"].as_str().unwrap().to_owned());
        access_tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(successors.len(), 1, "one successor minted: {successors:?}");
    let successor = successors.into_iter().next().unwrap();
    assert_ne!(successor, bob.refresh);
    // Nothing was revoked: every access token handed out works.
    for access in &access_tokens {
        assert_eq!(app.get("/me", Some(access)).await.status(), StatusCode::OK);
    }
    let sessions = json_body(app.get("/users/bob/sessions", Some(&bob.access)).await).await;
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
    // The successor is the session's current token.
    let next = app.refresh(&successor).await;
    assert_eq!(next.status(), StatusCode::OK);
    let next = json_body(next).await;
    assert_ne!(next["refresh_token"], successor.as_str());
    app.stop().await;
}

#[tokio::test]
async fn postgres_concurrent_registrations_of_one_username_admit_exactly_one() {
    let Some(app) = TestApp::builder()
        .postgres()
        .env("TESSERA_REGISTRATION_RATE", "1000/min")
        .try_spawn()
        .await
    else {
        return;
    };
    let spellings = ["carol", "Carol", "CAROL", "cArOl"];
    let answers = join_all((0..20).map(|i| {
        app.post(
            "/auth/register",
            None,
            json!({"username": spellings[i % spellings.len()], "password": PASSWORD}),
        )
    }))
    .await;
    let mut created = 0;
    for r in answers {
        match r.status() {
            StatusCode::CREATED => created += 1,
            _ => {
                assert_error(r, StatusCode::CONFLICT, "username_taken").await;
            }
        }
    }
    assert_eq!(created, 1, "exactly one registration wins");
    let login = app.login("carol", PASSWORD).await;
    let users = json_body(app.get("/users", Some(&login.access)).await).await;
    assert_eq!(users["users"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn two_replicas_on_one_postgres_database_share_users_sessions_and_keys() {
    let Some(first) = TestApp::builder()
        .postgres()
        .env("TESSERA_ISSUER", SHARED_ISSUER)
        .try_spawn()
        .await
    else {
        return;
    };
    let second = TestApp::builder()
        .database_url(&first.database_url)
        .env("TESSERA_ISSUER", SHARED_ISSUER)
        .try_spawn()
        .await
        .expect("second replica");
    assert_eq!(second.database_url, first.database_url);

    // Both publish the same keys: neither generated its own.
    let jwks_first = json_body(first.get("/.well-known/jwks.json", None).await).await;
    let jwks_second = json_body(second.get("/.well-known/jwks.json", None).await).await;
    assert!(!kids(&jwks_first).is_empty());
    assert_eq!(kids(&jwks_first), kids(&jwks_second));
    assert_eq!(jwks_first, jwks_second);

    // A user registered on one logs in on the other.
    let dave = first.register("dave").await;
    let on_second = second.login("Dave", PASSWORD).await;
    assert_eq!(on_second.body["user"]["id"], dave.body["user"]["id"]);

    // A token issued by either verifies on the other.
    let me = json_body(second.get("/me", Some(&dave.access)).await).await;
    assert_eq!(me["user"]["username"], "dave");
    let me = json_body(first.get("/me", Some(&on_second.access)).await).await;
    assert_eq!(me["user"]["username"], "dave");
    let r = second.get("/auth/verify", Some(&dave.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-username"], "dave");

    // A refresh token rotates on either replica, once.
    let r = second.refresh(&dave.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let rotated = json_body(r).await;
    let again = json_body(first.refresh(&dave.refresh).await).await;
    assert_eq!(
        again["refresh_token"], rotated["refresh_token"],
        "a repeat on the other replica inside the grace window gets the same successor"
    );

    // A name taken on one is taken on the other.
    let r = second
        .post(
            "/auth/register",
            None,
            json!({"username": "DAVE", "password": PASSWORD}),
        )
        .await;
    assert_error(r, StatusCode::CONFLICT, "username_taken").await;

    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn a_logout_on_one_replica_is_refused_and_announced_on_the_other_at_once() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let Some(first) = TestApp::builder()
        .postgres()
        .env("TESSERA_ISSUER", SHARED_ISSUER)
        .try_spawn()
        .await
    else {
        return;
    };
    let second = TestApp::builder()
        .database_url(&first.database_url)
        .env("TESSERA_ISSUER", SHARED_ISSUER)
        .try_spawn()
        .await
        .expect("second replica");
    let kim = first.register("kim").await;
    let other = first.login("kim", PASSWORD).await;
    assert_eq!(
        second.get("/me", Some(&other.access)).await.status(),
        reqwest::StatusCode::OK
    );

    // Subscribed on the second replica.
    let mut request = format!("ws://{}/events", second.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", kim.access).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    // Logged out through the first.
    let r = first
        .post("/auth/logout", Some(&other.access), serde_json::json!({}))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);

    // The subscriber on the second replica hears of it (LISTEN/NOTIFY)...
    let event = loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("in time");
        if let Some(Ok(Message::Text(t))) = msg {
            break serde_json::from_str::<serde_json::Value>(&t).unwrap();
        }
    };
    assert_eq!(event["type"], "session.revoked");
    assert_eq!(event["sub"], kim.body["user"]["id"]);
    // ...and by then the second replica refuses the token too.
    let r = second.get("/me", Some(&other.access)).await;
    assert_error(r, reqwest::StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(
        second.get("/me", Some(&kim.access)).await.status(),
        reqwest::StatusCode::OK
    );
}
