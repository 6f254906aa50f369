//! Refresh-token rotation (SPEC §4 `POST /auth/refresh`, §5): a new token on
//! every refresh, one successor however many refreshes race, the grace window
//! for repeats, reuse detection that ends the session, idle expiry, the
//! absolute session lifetime, logout-all and roles carried over.

use crate::helpers::*;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

/// The decoded claims of a JWT (no verification: only to read `sid`, `roles`).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWS has a payload");
    let bytes = tessera_token::crypto::b64url_decode(payload).expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Refreshes and expects 200; returns the token response.
async fn refresh_ok(app: &TestApp, token: &str) -> Value {
    let r = app.refresh(token).await;
    assert_eq!(r.status(), StatusCode::OK, "refresh should succeed");
    json_body(r).await
}

fn refresh_token(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

fn access_token(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

async fn assert_refused_refresh(app: &TestApp, token: &str) {
    assert_error(
        app.refresh(token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
}

async fn assert_access_ok(app: &TestApp, access: &str) {
    assert_eq!(
        app.get("/me", Some(access)).await.status(),
        StatusCode::OK,
        "the access token should still be accepted"
    );
}

async fn assert_access_refused(app: &TestApp, access: &str) {
    let r = app.get("/me", Some(access)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

/// Fires `n` refreshes with one token at once; returns each (status, body).
async fn concurrent_refreshes(app: &TestApp, token: &str, n: usize) -> Vec<(StatusCode, Value)> {
    let requests = (0..n).map(|_| async {
        let r = app.refresh(token).await;
        let status = r.status();
        (status, r.json::<Value>().await.expect("JSON body"))
    });
    join_all(requests).await
}

#[tokio::test]
async fn every_refresh_rotates_to_a_new_refresh_token_in_the_same_session() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let sid = claims(&alice.access)["sid"].clone();
    assert!(sid.is_string());

    let mut seen = HashSet::from([alice.refresh.clone()]);
    let mut current = alice.refresh.clone();
    for _ in 0..4 {
        let body = refresh_ok(&app, &current).await;
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["user"]["username"], "alice");
        let next = refresh_token(&body);
        assert!(seen.insert(next.clone()), "a refresh token came back twice");
        // Opaque, 256 bits of base64url: 43 characters, not a JWT.
        assert_eq!(next.len(), 43);
        assert!(!next.contains('.'));
        let access = access_token(&body);
        assert_eq!(claims(&access)["sid"], sid, "rotation keeps the session");
        assert_access_ok(&app, &access).await;
        current = next;
    }
    let sessions = json_body(app.get("/users/alice/sessions", Some(&alice.access)).await).await;
    assert_eq!(sessions["sessions"].as_array().map(Vec::len), Some(1));
}

/// Twenty refreshes with one token at once, inside the grace window: every one
/// succeeds with the same successor, and the session lives on.
async fn twenty_concurrent_refreshes_share_one_successor(app: TestApp) {
    let alice = app.register("alice").await;
    let results = concurrent_refreshes(&app, &alice.refresh, 20).await;
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "every concurrent refresh: {body}");
    }
    let successors: HashSet<String> = results.iter().map(|(_, b)| refresh_token(b)).collect();
    assert_eq!(successors.len(), 1, "one successor for all: {successors:?}");
    let successor = successors.into_iter().next().unwrap_or_default();
    assert_ne!(successor, alice.refresh);
    let accesses: HashSet<String> = results.iter().map(|(_, b)| access_token(b)).collect();
    assert_eq!(accesses.len(), 20, "each answer has its own access token");
    for access in accesses.iter().take(3) {
        assert_access_ok(&app, access).await;
    }
    assert_access_ok(&app, &alice.access).await;

    // The session survives: the successor refreshes again.
    let next = refresh_ok(&app, &successor).await;
    assert_ne!(refresh_token(&next), successor);
    assert_access_ok(&app, &access_token(&next)).await;
}

#[tokio::test]
async fn twenty_concurrent_refreshes_inside_the_grace_window_all_get_the_same_successor() {
    twenty_concurrent_refreshes_share_one_successor(TestApp::spawn().await).await;
}

#[tokio::test]
async fn twenty_concurrent_refreshes_share_one_successor_on_postgres() {
    if let Some(app) = TestApp::builder().postgres().try_spawn().await {
        twenty_concurrent_refreshes_share_one_successor(app).await;
    }
}

#[tokio::test]
async fn a_repeat_inside_the_grace_window_gets_the_same_successor_and_revokes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let first = refresh_ok(&app, &alice.refresh).await;

    app.clock.advance(Duration::from_secs(5));
    let repeat = refresh_ok(&app, &alice.refresh).await;
    assert_eq!(refresh_token(&repeat), refresh_token(&first));
    assert_ne!(
        access_token(&repeat),
        access_token(&first),
        "a repeat gets a fresh access token"
    );
    assert_eq!(
        claims(&access_token(&repeat))["sid"],
        claims(&alice.access)["sid"]
    );

    // Nothing was revoked: every access token of the session still works…
    assert_access_ok(&app, &alice.access).await;
    assert_access_ok(&app, &access_token(&first)).await;
    assert_access_ok(&app, &access_token(&repeat)).await;
    // …and the successor rotates normally.
    let next = refresh_ok(&app, &refresh_token(&first)).await;
    assert_ne!(refresh_token(&next), refresh_token(&first));
    assert_access_ok(&app, &access_token(&next)).await;
}

#[tokio::test]
async fn a_rotated_token_presented_after_the_grace_window_revokes_the_whole_session() {
    let app = TestApp::spawn().await;
    let registered = app.register("alice").await;
    let login = app.login("alice", PASSWORD).await;
    let rotated = refresh_ok(&app, &login.refresh).await;

    app.clock.advance(Duration::from_secs(11));
    assert_refused_refresh(&app, &login.refresh).await;

    // The whole session is gone: its latest refresh token and its access tokens.
    assert_refused_refresh(&app, &refresh_token(&rotated)).await;
    assert_access_refused(&app, &access_token(&rotated)).await;
    assert_access_refused(&app, &login.access).await;
    // Presenting the old token again changes nothing.
    assert_refused_refresh(&app, &login.refresh).await;

    // Another session of the same user is untouched.
    assert_access_ok(&app, &registered.access).await;
    let other = refresh_ok(&app, &registered.refresh).await;
    assert_access_ok(&app, &access_token(&other)).await;

    // The reuse is in the audit log.
    let admin = app.admin("root").await;
    let audit = json_body(
        app.get(
            "/admin/audit?event=refresh.reuse_detected",
            Some(&admin.access),
        )
        .await,
    )
    .await;
    let entries = audit["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["outcome"], "failure");
}

#[tokio::test]
async fn with_grace_zero_a_repeated_refresh_is_reuse() {
    let app = TestApp::builder()
        .env("TESSERA_REFRESH_GRACE", "0s")
        .spawn()
        .await;
    let alice = app.register("alice").await;
    let rotated = refresh_ok(&app, &alice.refresh).await;
    // No time has passed, yet the repeat is reuse.
    assert_refused_refresh(&app, &alice.refresh).await;
    assert_refused_refresh(&app, &refresh_token(&rotated)).await;
    assert_access_refused(&app, &access_token(&rotated)).await;
    assert_access_refused(&app, &alice.access).await;
}

/// With grace `0s`, concurrent refreshes with one token: exactly one wins,
/// the rest are reuse, and reuse ends the session — including the winner's tokens.
async fn concurrent_refreshes_without_grace_end_the_session(app: TestApp) {
    let alice = app.register("alice").await;
    let results = concurrent_refreshes(&app, &alice.refresh, 20).await;
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one refresh may succeed");
    for (status, body) in &results {
        if *status != StatusCode::OK {
            assert_eq!(*status, StatusCode::UNAUTHORIZED, "{body}");
            assert_eq!(body["error"]["code"], "invalid_refresh_token");
        }
    }
    let minted: HashSet<String> = winners.iter().map(|b| refresh_token(b)).collect();
    assert_eq!(minted.len(), 1, "at most one new refresh token");
    let winner = winners[0];
    assert_refused_refresh(&app, &refresh_token(winner)).await;
    assert_access_refused(&app, &access_token(winner)).await;
    assert_access_refused(&app, &alice.access).await;
}

#[tokio::test]
async fn with_grace_zero_concurrent_refreshes_mint_one_token_and_end_the_session() {
    let app = TestApp::builder()
        .env("TESSERA_REFRESH_GRACE", "0s")
        .spawn()
        .await;
    concurrent_refreshes_without_grace_end_the_session(app).await;
}

#[tokio::test]
async fn with_grace_zero_concurrent_refreshes_end_the_session_on_postgres() {
    if let Some(app) = TestApp::builder()
        .postgres()
        .env("TESSERA_REFRESH_GRACE", "0s")
        .try_spawn()
        .await
    {
        concurrent_refreshes_without_grace_end_the_session(app).await;
    }
}

#[tokio::test]
async fn reuse_of_a_token_two_rotations_old_revokes_the_session_even_inside_the_grace_window() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let first = refresh_ok(&app, &alice.refresh).await;
    let second = refresh_ok(&app, &refresh_token(&first)).await;

    // Only the token rotated last has a grace window; the one before it is reuse.
    assert_refused_refresh(&app, &alice.refresh).await;
    assert_refused_refresh(&app, &refresh_token(&second)).await;
    assert_refused_refresh(&app, &refresh_token(&first)).await;
    assert_access_refused(&app, &access_token(&second)).await;
}

/// Disabling an account revokes its sessions in the same transaction, so a
/// refresh is refused by the rotation itself. Behind that, the rotation and
/// the grace path both refuse tokens to a disabled user whose session was
/// somehow left live (here, set directly in the database).
async fn a_disabled_user_with_a_live_session_gets_no_tokens(app: TestApp) {
    let alice = app.register("alice").await;
    let successor = refresh_token(&refresh_ok(&app, &alice.refresh).await);
    tessera_core::testing::execute_sql(
        &app.database_url,
        "UPDATE users SET disabled = TRUE WHERE username = 'alice'",
    )
    .await;
    // A repeat of the rotated token inside the grace window.
    assert_refused_refresh(&app, &alice.refresh).await;
    // The current token.
    assert_refused_refresh(&app, &successor).await;
}

#[tokio::test]
async fn a_disabled_user_with_a_live_session_gets_no_tokens_on_sqlite() {
    a_disabled_user_with_a_live_session_gets_no_tokens(TestApp::spawn().await).await;
}

#[tokio::test]
async fn a_disabled_user_with_a_live_session_gets_no_tokens_on_postgres() {
    if let Some(app) = TestApp::builder().postgres().try_spawn().await {
        a_disabled_user_with_a_live_session_gets_no_tokens(app).await;
    }
}

#[tokio::test]
async fn garbage_refresh_tokens_are_refused_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let unknown = tessera_token::crypto::b64url(tessera_token::crypto::random_bytes::<32>());
    let padded = format!("{unknown}=");
    let long_garbage = "A".repeat(500);
    let not_ours: [&str; 9] = [
        "garbage",
        "short",
        "x",
        &unknown,
        &padded,
        &alice.access,
        "%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%",
        "' OR 1=1 --",
        &long_garbage,
    ];
    for token in not_ours {
        // Within the schema's 512 characters: not ours (401); longer: invalid (400).
        let (status, code) = if token.len() <= 512 {
            (StatusCode::UNAUTHORIZED, "invalid_refresh_token")
        } else {
            (StatusCode::BAD_REQUEST, "validation_failed")
        };
        let body = assert_error(app.refresh(token).await, status, code).await;
        assert!(
            token.len() < 12 || !body.to_string().contains(token),
            "the error does not echo the token"
        );
    }

    let invalid = [
        json!({"refresh_token": ""}),
        json!({"refresh_token": "A".repeat(513)}),
        json!({"refresh_token": 42}),
        json!({"refresh_token": null}),
        json!({"refresh_token": [alice.refresh]}),
        json!({}),
        json!({"refresh_token": alice.refresh, "extra": true}),
        json!([alice.refresh]),
    ];
    for body in invalid {
        let r = app.post("/auth/refresh", None, body.clone()).await;
        let err = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert!(
            err["error"]["details"]
                .as_array()
                .is_some_and(|d| !d.is_empty()),
            "details for {body}: {err}"
        );
    }

    // None of that touched the real session.
    refresh_ok(&app, &alice.refresh).await;
}

#[tokio::test]
async fn an_idle_refresh_token_expires_after_the_refresh_ttl() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    app.clock.advance(Duration::from_secs(14 * DAY + 1));
    assert_refused_refresh(&app, &alice.refresh).await;
    // The password still opens a new session.
    let login = app.login("alice", PASSWORD).await;
    refresh_ok(&app, &login.refresh).await;
}

#[tokio::test]
async fn each_rotation_extends_the_idle_lifetime() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    app.clock.advance(Duration::from_secs(10 * DAY));
    let first = refresh_ok(&app, &alice.refresh).await;
    app.clock.advance(Duration::from_secs(10 * DAY));
    // 20 days after login, but only 10 idle.
    let second = refresh_ok(&app, &refresh_token(&first)).await;
    app.clock.advance(Duration::from_secs(13 * DAY));
    let third = refresh_ok(&app, &refresh_token(&second)).await;
    app.clock.advance(Duration::from_secs(14 * DAY + 1));
    assert_refused_refresh(&app, &refresh_token(&third)).await;
}

#[tokio::test]
async fn the_absolute_session_lifetime_caps_rotation() {
    let app = TestApp::builder()
        .env("TESSERA_SESSION_MAX_AGE", "2d")
        .env("TESSERA_REFRESH_TTL", "1d")
        .spawn()
        .await;
    let alice = app.register("alice").await;
    let mut current = alice.refresh.clone();
    // Refreshing every 20 hours keeps the idle lifetime (1 day) fresh…
    for _ in 0..2 {
        app.clock.advance(Duration::from_secs(20 * HOUR));
        current = refresh_token(&refresh_ok(&app, &current).await);
    }
    // …at 47 h the session is still alive, but rotation no longer extends it…
    app.clock.advance(Duration::from_secs(7 * HOUR));
    current = refresh_token(&refresh_ok(&app, &current).await);
    let viewer = app.login("alice", PASSWORD).await;
    let sessions = json_body(app.get("/users/alice/sessions", Some(&viewer.access)).await).await;
    let sid = claims(&alice.access)["sid"].clone();
    let session = sessions["sessions"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["id"] == sid))
        .expect("the first session is listed")
        .clone();
    let at = |field: &str| {
        let text = session[field].as_str().expect("timestamp");
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
    };
    assert_eq!(
        at("expires_at") - at("created_at"),
        time::Duration::days(2),
        "the refresh extended it to the cap, not a day past the last use"
    );
    // …and past 2 days it is over, however recently it was refreshed.
    app.clock.advance(Duration::from_secs(2 * HOUR));
    assert_refused_refresh(&app, &current).await;
}

#[tokio::test]
async fn logout_all_revokes_every_session_of_the_user() {
    let app = TestApp::spawn().await;
    let first = app.register("alice").await;
    let second = app.login("alice", PASSWORD).await;
    let third = app.login("alice", PASSWORD).await;
    let third_rotated = refresh_ok(&app, &third.refresh).await;
    let bob = app.register("bob").await;

    let r = app
        .post("/auth/logout-all", Some(&second.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    for s in [&first, &second, &third] {
        assert_access_refused(&app, &s.access).await;
    }
    assert_access_refused(&app, &access_token(&third_rotated)).await;
    for token in [&first.refresh, &second.refresh] {
        assert_refused_refresh(&app, token).await;
    }
    assert_refused_refresh(&app, &refresh_token(&third_rotated)).await;

    // Bob is untouched.
    assert_access_ok(&app, &bob.access).await;
    refresh_ok(&app, &bob.refresh).await;

    // Alice can log in again; only the new session is listed.
    let again = app.login("alice", PASSWORD).await;
    let sessions = json_body(app.get("/users/alice/sessions", Some(&again.access)).await).await;
    let sessions = sessions["sessions"].as_array().expect("sessions").clone();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["id"], claims(&again.access)["sid"]);
}

#[tokio::test]
async fn refreshed_tokens_carry_the_current_roles() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    assert_eq!(claims(&alice.access)["roles"], json!(["user"]));
    let admin = app.admin("root").await;

    app.clock.advance(Duration::from_secs(1));
    let r = app
        .patch(
            "/users/alice",
            Some(&admin.access),
            json!({"roles": ["editor", "user"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let refreshed = refresh_ok(&app, &alice.refresh).await;
    let access = access_token(&refreshed);
    let roles = claims(&access)["roles"].clone();
    assert!(
        roles
            .as_array()
            .is_some_and(|r| r.contains(&json!("editor")) && r.contains(&json!("user"))),
        "roles in the refreshed token: {roles}"
    );
    assert!(
        refreshed["user"]["roles"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("editor")))
    );
    let verify = app.get("/auth/verify", Some(&access)).await;
    assert_eq!(verify.status(), StatusCode::OK);
    let header = verify.headers()["x-auth-roles"]
        .to_str()
        .unwrap_or_default();
    assert!(header.split(',').any(|r| r == "editor"), "{header}");
    // The token minted before the change no longer works.
    assert_access_refused(&app, &alice.access).await;

    // Taking the role away shows up in the next refresh too.
    app.clock.advance(Duration::from_secs(1));
    let r = app
        .patch("/users/alice", Some(&admin.access), json!({"roles": []}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let again = refresh_ok(&app, &refresh_token(&refreshed)).await;
    assert_eq!(claims(&access_token(&again))["roles"], json!(["user"]));
    assert_access_refused(&app, &access).await;
}
