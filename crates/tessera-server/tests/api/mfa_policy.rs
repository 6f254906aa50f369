//! `TESSERA_MFA`: who must sign in with a second factor. A person the
//! policy covers without a factor gets an `enrollment_token` instead of
//! tokens, sets up an app with it and is then signed in; a role or a policy
//! that puts someone under it ends their sessions signed in without one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::factors::code;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn claims(access: &str) -> Value {
    jwt_parts(access).1
}

/// Sets up an app with `token` (an enrollment token, or an access token)
/// and confirms it; the confirmation's answer.
async fn enrol_with(app: &TestApp, token: &str) -> (reqwest::StatusCode, Value) {
    let r = app
        .post(
            "/me/factors/totp",
            Some(token),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let started = json_body(r).await;
    let secret = totp_rs::Secret::try_from_base32(started["secret"].as_str().unwrap())
        .unwrap()
        .as_ref()
        .to_vec();
    let id = started["factor"]["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/me/factors/totp/{id}/confirm"),
            Some(token),
            json!({"code": code(app, &secret, 0)}),
        )
        .await;
    let status = r.status();
    (status, json_body(r).await)
}

#[tokio::test]
async fn under_everyone_a_newcomer_sets_up_an_app_before_any_token_is_issued() {
    let app = TestApp::builder()
        .env("TESSERA_MFA", "everyone")
        .spawn()
        .await;
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body = json_body(r).await;
    assert!(body.get("access_token").is_none(), "{body}");
    assert_eq!(body["user"]["username"], "alice");
    let token = body["enrollment_token"].as_str().unwrap().to_owned();
    assert!(!token.contains('.'), "opaque, not a JWT");

    // Only the factor endpoints take it.
    let r = app.get("/me", Some(&token)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let r = app
        .post(
            "/me/recovery-codes",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let listed = json_body(app.get("/me/factors", Some(&token)).await).await;
    assert_eq!(listed["factors"], json!([]));

    let (status, done) = enrol_with(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["token_type"], "Bearer");
    assert_eq!(done["recovery_codes"].as_array().unwrap().len(), 10);
    assert_eq!(done["factor"]["type"], "totp");
    let access = done["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(app.get("/me", Some(access)).await.status(), StatusCode::OK);
    // The enrollment token was spent.
    let r = app.get("/me/factors", Some(&token)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // From now on, the factor is asked for; the last one cannot go.
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "mfa_required").await;
    let id = done["factor"]["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/me/factors/{id}/remove"),
            Some(access),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_error(r, StatusCode::CONFLICT, "last_factor").await;
    app.stop().await;
}

#[tokio::test]
async fn under_admins_an_admin_without_a_factor_gets_an_enrollment_token_and_others_sign_in() {
    let app = TestApp::builder()
        .env("TESSERA_MFA", "admins")
        .spawn()
        .await;
    let bob = app.register("bob").await;
    assert_eq!(claims(&bob.access)["amr"], json!(["pwd"]));
    app.login("bob", PASSWORD).await;

    // root is made an admin in the database itself, then must set up a
    // factor at the next sign-in.
    let store = tessera_core::store::connect(&app.database_url)
        .await
        .unwrap();
    let root = app.register("root").await;
    let changes = tessera_core::store::UserChanges {
        roles: Some(tessera_core::model::normalize_roles(["admin"])),
        ..Default::default()
    };
    let root_id = store
        .user_by_username("root")
        .await
        .unwrap()
        .unwrap()
        .user
        .id;
    let now = tessera_token::clock::Clock::now_ms(&app.clock);
    store
        .update_user(root_id, &changes, now, &Default::default())
        .await
        .unwrap();
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "root", "password": PASSWORD}),
        )
        .await;
    let body = assert_error(r, StatusCode::FORBIDDEN, "mfa_enrollment_required").await;
    let token = body["error"]["enrollment_token"].as_str().unwrap();
    let (status, done) = enrol_with(&app, token).await;
    assert_eq!(status, StatusCode::OK);
    let root_access = done["access_token"].as_str().unwrap().to_owned();
    let _ = root;

    // Bob becomes an admin through Tessera: his sessions signed in with a
    // password alone end at once.
    let r = app
        .patch(
            "/users/bob",
            Some(&root_access),
            json!({"roles": ["admin"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.refresh(&bob.refresh).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "bob", "password": PASSWORD}),
        )
        .await;
    let body = assert_error(r, StatusCode::FORBIDDEN, "mfa_enrollment_required").await;
    assert!(body["error"]["enrollment_token"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn switching_the_policy_on_ends_the_sessions_it_no_longer_allows() {
    let app = TestApp::spawn().await;
    let carl = app.register("carl").await;
    let dora = app.register("dora").await;
    let factor = crate::factors::enrol(&app, &dora).await;
    let token = crate::factors::mfa_token(&app, "dora").await;
    let r = app
        .post(
            "/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": code(&app, &factor.secret, 1)}),
        )
        .await;
    let strong = session_from("dora", PASSWORD, json_body(r).await);
    let url = app.database_url.clone();
    let _data = app.stop_keeping_data().await;

    let again = TestApp::builder()
        .env("TESSERA_MFA", "everyone")
        .database_url(&url)
        .spawn()
        .await;
    let r = again.refresh(&carl.refresh).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    let r = again.refresh(&dora.refresh).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    let r = again.refresh(&strong.refresh).await;
    assert_eq!(r.status(), StatusCode::OK, "signed in with a factor: kept");
    again.stop().await;
}
