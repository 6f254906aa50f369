//! Registration switches and races: `TESSERA_ALLOW_REGISTRATION`, the
//! bootstrap admin from the environment, concurrent registrations of one name.

use super::*;
use futures::future::join_all;

// ------------------------------------------- registration and bootstrap

#[tokio::test]
async fn registration_when_disabled_is_registration_disabled() {
    let app = TestApp::builder()
        .env("TESSERA_ALLOW_REGISTRATION", "false")
        .spawn()
        .await;

    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;

    assert_error(r, StatusCode::FORBIDDEN, "registration_disabled").await;
    let r = login_status(&app, "alice", PASSWORD).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn the_bootstrap_admin_logs_in_with_the_admin_role() {
    let password = "bootstrap-passphrase-99";
    let app = TestApp::builder()
        .env("TESSERA_ADMIN_USERNAME", "boss")
        .env("TESSERA_ADMIN_PASSWORD", password)
        .spawn()
        .await;

    let boss = app.login("BOSS", password).await;

    assert_eq!(boss.body["user"]["username"], "boss");
    assert_eq!(boss.body["user"]["roles"], json!(["admin", "user"]));
    let r = app.get("/admin/audit", Some(&boss.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_registrations_of_one_username_yield_exactly_one_created() {
    let app = TestApp::spawn().await;
    let body = json!({"username": "racer", "password": PASSWORD});

    let responses = join_all((0..10).map(|_| app.post("/auth/register", None, body.clone()))).await;

    let mut created = 0;
    for r in responses {
        if r.status() == StatusCode::CREATED {
            created += 1;
        } else {
            assert_error(r, StatusCode::CONFLICT, "username_taken").await;
        }
    }
    assert_eq!(created, 1);
    app.login("racer", PASSWORD).await;
}

#[tokio::test]
async fn concurrent_registrations_differing_only_in_case_yield_exactly_one_created() {
    let app = TestApp::spawn().await;
    let names = [
        "racer", "Racer", "RACER", "rAcer", "raCer", "racEr", "raceR", "RaCeR", "rAcEr", "RACEr",
    ];

    let responses = join_all(names.iter().map(|n| {
        app.post(
            "/auth/register",
            None,
            json!({"username": n, "password": PASSWORD}),
        )
    }))
    .await;

    let mut winners = Vec::new();
    for (name, r) in names.iter().zip(responses) {
        if r.status() == StatusCode::CREATED {
            winners.push(*name);
        } else {
            assert_error(r, StatusCode::CONFLICT, "username_taken").await;
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let me = app.login("RACER", PASSWORD).await;
    assert_eq!(me.body["user"]["username"], winners[0]);
}
