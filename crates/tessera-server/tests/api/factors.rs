//! Second factors through the API (SPEC §11): enrolling an authenticator
//! app, the two-step login, recovery codes, removal and an admin's reset,
//! the `amr` each sign-in earns, and every refusal on the way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tessera_core::mfa::{totp_code, totp_step};
use tessera_token::clock::Clock;

/// What enrolling leaves the test with.
pub(crate) struct Enrolled {
    /// The raw TOTP secret.
    pub(crate) secret: Vec<u8>,
    /// The recovery codes shown once.
    pub(crate) recovery_codes: Vec<String>,
    /// The factor's id.
    pub(crate) id: String,
}

/// The code of the app `steps` time steps from now.
pub(crate) fn code(app: &TestApp, secret: &[u8], steps: i64) -> String {
    totp_code(secret, totp_step(app.clock.now_ms()) + steps)
}

/// Enrols an authenticator app for `session`'s person and confirms it with
/// the current code.
pub(crate) async fn enrol(app: &TestApp, session: &Session) -> Enrolled {
    let r = app
        .post(
            "/me/factors/totp",
            Some(&session.access),
            json!({"password": session.password, "name": "Phone"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body = json_body(r).await;
    let secret = totp_rs::Secret::try_from_base32(body["secret"].as_str().unwrap())
        .unwrap()
        .as_ref()
        .to_vec();
    let id = body["factor"]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/me/factors/totp/{id}/confirm"),
            Some(&session.access),
            json!({"code": code(app, &secret, 0)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    let recovery_codes = body["recovery_codes"]
        .as_array()
        .map(|a| a.iter().map(|c| c.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    Enrolled {
        secret,
        recovery_codes,
        id,
    }
}

/// The `mfa_token` of a login that needs a second factor.
pub(crate) async fn mfa_token(app: &TestApp, username: &str) -> String {
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": username, "password": PASSWORD}),
        )
        .await;
    let body = assert_error(r, StatusCode::UNAUTHORIZED, "mfa_required").await;
    body["error"]["mfa_token"].as_str().unwrap().to_owned()
}

async fn second_step(app: &TestApp, token: &str, code: &str) -> reqwest::Response {
    app.post(
        "/auth/login/mfa",
        None,
        json!({"mfa_token": token, "code": code}),
    )
    .await
}

fn claims(access: &str) -> Value {
    jwt_parts(access).1
}

#[tokio::test]
async fn an_app_is_enrolled_with_a_code_and_then_signing_in_takes_one() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    assert_eq!(claims(&alice.access)["amr"], json!(["pwd"]));

    let r = app
        .post(
            "/me/factors/totp",
            Some(&alice.access),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let started = json_body(r).await;
    let secret = started["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "20 bytes, unpadded base32");
    assert_eq!(
        started["otpauth_uri"],
        format!(
            "otpauth://totp/Tessera:alice?secret={secret}&issuer=Tessera&algorithm=SHA1&digits=6&period=30"
        )
    );
    assert_eq!(started["factor"]["type"], "totp");
    assert_eq!(started["factor"]["name"], "Authenticator app");
    let listed = json_body(app.get("/me/factors", Some(&alice.access)).await).await;
    assert_eq!(
        listed,
        json!({"factors": [], "recovery_codes_left": 0}),
        "not listed before it is confirmed"
    );
    // Without a factor, a password is enough.
    let plain = app.login("alice", PASSWORD).await;
    assert_eq!(claims(&plain.access)["amr"], json!(["pwd"]));

    let raw = totp_rs::Secret::try_from_base32(secret)
        .unwrap()
        .as_ref()
        .to_vec();
    let id = started["factor"]["id"].as_str().unwrap();
    let confirm = format!("/me/factors/totp/{id}/confirm");
    let r = app
        .post(
            &confirm,
            Some(&alice.access),
            json!({"code": code(&app, &raw, 3)}),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_code").await;
    let now = code(&app, &raw, 0);
    let r = app
        .post(&confirm, Some(&alice.access), json!({"code": now}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let confirmed = json_body(r).await;
    assert_eq!(confirmed["factor"]["id"], id);
    let codes = confirmed["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() == 11));
    let listed = json_body(app.get("/me/factors", Some(&alice.access)).await).await;
    assert_eq!(listed["factors"].as_array().unwrap().len(), 1);
    assert_eq!(listed["factors"][0]["type"], "totp");
    assert_eq!(listed["recovery_codes_left"], 10);

    // Now the password alone issues nothing.
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body = assert_error(r, StatusCode::UNAUTHORIZED, "mfa_required").await;
    assert_eq!(body["error"]["factors"], json!(["totp", "recovery_code"]));
    assert!(body.get("access_token").is_none() && body["error"].get("access_token").is_none());
    let token = body["error"]["mfa_token"].as_str().unwrap();
    // The confirming code does not work twice; the next step's does.
    let r = second_step(&app, token, &now).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let r = second_step(&app, token, &code(&app, &raw, 1)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let signed_in = session_from("alice", PASSWORD, json_body(r).await);
    let c = claims(&signed_in.access);
    assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(c["auth_time"], app.clock.now_ms() / 1000);
    assert_eq!(
        app.get("/me", Some(&signed_in.access)).await.status(),
        StatusCode::OK
    );
    // The mfa_token was single use.
    let r = second_step(&app, token, &code(&app, &raw, 1)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
    // A refresh keeps what the sign-in proved, and when.
    app.clock.advance(Duration::from_secs(90));
    let refreshed = json_body(app.refresh(&signed_in.refresh).await).await;
    let r = claims(refreshed["access_token"].as_str().unwrap());
    assert_eq!(r["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(r["auth_time"], c["auth_time"]);
    app.stop().await;
}

#[tokio::test]
async fn drift_of_one_step_either_way_is_accepted_and_no_more() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let factor = enrol(&app, &bob).await;
    app.clock.advance(Duration::from_secs(120));
    for (drift, ok) in [(-2, false), (2, false), (-1, true)] {
        let token = mfa_token(&app, "bob").await;
        let r = second_step(&app, &token, &code(&app, &factor.secret, drift)).await;
        if ok {
            assert_eq!(r.status(), StatusCode::OK, "drift {drift}");
        } else {
            assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
        }
    }
    // Once a later step was accepted, an earlier code is refused even inside
    // the window.
    let token = mfa_token(&app, "bob").await;
    let r = second_step(&app, &token, &code(&app, &factor.secret, 1)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let token = mfa_token(&app, "bob").await;
    let r = second_step(&app, &token, &code(&app, &factor.secret, 0)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    app.stop().await;
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_a_new_set_voids_the_old() {
    let app = TestApp::spawn().await;
    let cy = app.register("cyd").await;
    let factor = enrol(&app, &cy).await;
    let first = &factor.recovery_codes[0];
    // Case and the dash do not matter.
    let typed = first.replace('-', "").to_lowercase();
    let token = mfa_token(&app, "cyd").await;
    let r = second_step(&app, &token, &typed).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "mfa"])
    );
    let token = mfa_token(&app, "cyd").await;
    let r = second_step(&app, &token, first).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let listed = json_body(app.get("/me/factors", Some(&cy.access)).await).await;
    assert_eq!(listed["recovery_codes_left"], 9);

    let r = app
        .post(
            "/me/recovery-codes",
            Some(&cy.access),
            json!({"password": "not the password at all"}),
        )
        .await;
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let r = app
        .post(
            "/me/recovery-codes",
            Some(&cy.access),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = json_body(r).await["recovery_codes"].clone();
    assert_eq!(fresh.as_array().unwrap().len(), 10);
    let token = mfa_token(&app, "cyd").await;
    let r = second_step(&app, &token, &factor.recovery_codes[1]).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let r = second_step(&app, &token, fresh[0].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn wrong_codes_spend_the_token_and_make_the_person_wait_until_a_sign_in_completes() {
    let app = TestApp::spawn().await;
    let di = app.register("dia").await;
    let factor = enrol(&app, &di).await;
    let token = mfa_token(&app, "dia").await;
    for _ in 0..4 {
        let r = second_step(&app, &token, "000000").await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    }
    // The fifth wrong code spends the token and starts the person's wait.
    let r = second_step(&app, &token, "000001").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let r = second_step(&app, &token, &code(&app, &factor.secret, 1)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
    // A correct password does not clear the wait: the next token's codes wait.
    let token = mfa_token(&app, "dia").await;
    let r = second_step(&app, &token, &code(&app, &factor.secret, 1)).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Waiting, then another wrong code doubles the wait.
    app.clock.advance(Duration::from_secs(2));
    let r = second_step(&app, &token, "000002").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let r = second_step(&app, &token, &code(&app, &factor.secret, 1)).await;
    assert_eq!(r.headers()["retry-after"], "2");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    app.clock.advance(Duration::from_secs(3));
    let r = second_step(&app, &token, &code(&app, &factor.secret, 1)).await;
    assert_eq!(r.status(), StatusCode::OK, "the right code after the wait");
    // The completed sign-in forgave the wrong codes.
    let token = mfa_token(&app, "dia").await;
    let r = second_step(&app, &token, "000003").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    app.stop().await;
}

#[tokio::test]
async fn the_second_step_refuses_what_is_not_a_live_mfa_token_and_a_wrong_password_says_nothing() {
    let app = TestApp::spawn().await;
    let eve = app.register("eve").await;
    enrol(&app, &eve).await;
    for token in [
        "",
        "x",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &"A".repeat(129),
    ] {
        let r = second_step(&app, token, "123456").await;
        let status = r.status();
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST,
            "{token:?}: {status}"
        );
    }
    let r = second_step(
        &app,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "123456",
    )
    .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
    // It expires after 5 minutes.
    let token = mfa_token(&app, "eve").await;
    app.clock.advance(Duration::from_secs(301));
    let r = second_step(&app, &token, "123456").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
    // A wrong password is the same answer as for anyone: no token, no factors.
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "eve", "password": "wrong password here"}),
        )
        .await;
    let body = assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert!(body["error"].get("mfa_token").is_none() && body["error"].get("factors").is_none());
    app.stop().await;
}

#[tokio::test]
async fn removing_a_factor_takes_the_password_and_the_last_takes_the_codes() {
    let app = TestApp::spawn().await;
    let fay = app.register("fay").await;
    let factor = enrol(&app, &fay).await;
    let remove = format!("/me/factors/{}/remove", factor.id);
    let r = app
        .post(
            &remove,
            Some(&fay.access),
            json!({"password": "not the password at all"}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let r = app.post(&remove, Some(&fay.access), json!({})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    let r = app
        .post(
            "/me/factors/not-an-id/remove",
            Some(&fay.access),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    // Another person cannot remove it.
    let gus = app.register("gus").await;
    let r = app
        .post(&remove, Some(&gus.access), json!({"password": PASSWORD}))
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;

    let r = app
        .post(&remove, Some(&fay.access), json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let listed = json_body(app.get("/me/factors", Some(&fay.access)).await).await;
    assert_eq!(listed, json!({"factors": [], "recovery_codes_left": 0}));
    let back = app.login("fay", PASSWORD).await;
    assert_eq!(claims(&back.access)["amr"], json!(["pwd"]));
    let r = app
        .post(
            "/me/recovery-codes",
            Some(&fay.access),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;

    let admin = app.admin("root").await;
    let id = fay.body["user"]["id"].as_str().unwrap();
    let audit = json_body(
        app.get(
            &format!("/admin/audit?user={id}&limit=50"),
            Some(&admin.access),
        )
        .await,
    )
    .await;
    let events: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"factor.added"), "{events:?}");
    assert!(events.contains(&"factor.removed"), "{events:?}");
    assert!(events.contains(&"factor.change_refused"), "{events:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_resets_a_persons_factors_and_nobody_else_may() {
    let app = TestApp::spawn().await;
    let hal = app.register("hal").await;
    enrol(&app, &hal).await;
    let ivy = app.register("ivy").await;
    let r = app.delete("/users/hal/factors", Some(&ivy.access)).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.delete("/users/hal/factors", Some(&hal.access)).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let admin = app.admin("root").await;
    let r = app
        .delete("/users/nobody/factors", Some(&admin.access))
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "user_not_found").await;
    let r = app.delete("/users/hal/factors", Some(&admin.access)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let back = app.login("hal", PASSWORD).await;
    assert_eq!(claims(&back.access)["amr"], json!(["pwd"]));
    let listed = json_body(app.get("/me/factors", Some(&hal.access)).await).await;
    assert_eq!(listed["recovery_codes_left"], 0);
    app.stop().await;
}

#[tokio::test]
async fn the_password_grant_points_a_person_with_a_factor_to_the_hosted_page() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let client = app
        .create_client(
            &admin.access,
            json!({"name": "cli", "redirect_uris": [], "grant_types": ["password"],
                   "scopes": ["openid"], "confidential": true}),
        )
        .await;
    let jo = app.register("joe").await;
    let fields = [
        ("grant_type", "password"),
        ("username", "joe"),
        ("password", PASSWORD),
    ];
    let plain = app.token_ok(client.basic(), &fields).await;
    assert_eq!(
        claims(plain["access_token"].as_str().unwrap())["amr"],
        json!(["pwd"])
    );
    enrol(&app, &jo).await;
    let r = app.token(client.basic(), &fields).await;
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("/authorize"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn with_a_master_key_the_secret_is_stored_sealed_and_still_works() {
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let app = TestApp::builder()
        .env("TESSERA_MASTER_KEY", key)
        .spawn()
        .await;
    let kay = app.register("kay").await;
    let factor = enrol(&app, &kay).await;
    let store = tessera_core::store::connect(&app.database_url)
        .await
        .unwrap();
    let user = store.user_by_username("kay").await.unwrap().unwrap().user;
    let stored = store.factors_of(user.id).await.unwrap();
    assert!(stored[0].sealed);
    let kept = stored[0].secret.clone().unwrap();
    assert!(
        !kept
            .windows(factor.secret.len())
            .any(|w| w == factor.secret.as_slice()),
        "the secret is not in the clear"
    );
    let token = mfa_token(&app, "kay").await;
    let r = second_step(&app, &token, &code(&app, &factor.secret, 1)).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn postgres_enrol_sign_in_with_a_code_and_a_recovery_code() {
    let Some(app) = TestApp::builder().postgres().try_spawn().await else {
        return;
    };
    let lu = app.register("lux").await;
    let factor = enrol(&app, &lu).await;
    let token = mfa_token(&app, "lux").await;
    let r = second_step(&app, &token, &code(&app, &factor.secret, 0)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let r = second_step(&app, &token, &code(&app, &factor.secret, 1)).await;
    let body = json_body(r).await;
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp", "mfa"])
    );
    let token = mfa_token(&app, "lux").await;
    let r = second_step(&app, &token, &factor.recovery_codes[9]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let token = mfa_token(&app, "lux").await;
    let r = second_step(&app, &token, &factor.recovery_codes[9]).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    app.stop().await;
}

/// The next event of `ws` that is not a sign-in's (those come and go with
/// every login of the test).
async fn next_factor_event(ws: &mut Socket) -> Value {
    loop {
        let event = next_event(ws).await;
        if event["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("factor."))
        {
            return event;
        }
    }
}

#[tokio::test]
async fn factor_events_reach_the_person_and_admins_one_per_factor_on_a_reset() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let mia = app.register("mia").await;
    let mut watching = subscribe(&app, &admin.access).await;
    let mut own = subscribe(&app, &mia.access).await;
    let first = enrol(&app, &mia).await;
    for ws in [&mut watching, &mut own] {
        let event = next_factor_event(ws).await;
        assert_eq!(event["type"], "factor.added");
        assert_eq!(event["factor_id"], first.id.as_str());
        assert_eq!(event["sub"], mia.body["user"]["id"]);
        assert_eq!(event["factor_type"], "totp");
    }
    let second = enrol(&app, &mia).await;
    let _ = next_factor_event(&mut watching).await;
    let r = app.delete("/users/mia/factors", Some(&admin.access)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let mut removed = [
        next_factor_event(&mut watching).await,
        next_factor_event(&mut watching).await,
    ];
    removed.sort_by_key(|e| e["factor_id"].as_str().unwrap().to_owned());
    let mut ids = vec![first.id.clone(), second.id.clone()];
    ids.sort();
    for (event, id) in removed.iter().zip(&ids) {
        assert_eq!(event["type"], "factor.removed");
        assert_eq!(event["factor_id"], id.as_str());
    }
    app.stop().await;
}

#[tokio::test]
async fn a_quiet_spell_does_not_forgive_wrong_codes_only_a_completed_sign_in_does() {
    let app = TestApp::spawn().await;
    let ned = app.register("ned").await;
    let factor = enrol(&app, &ned).await;
    for _ in 0..5 {
        let token = mfa_token(&app, "ned").await;
        let r = second_step(&app, &token, "000000").await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
        app.clock.advance(Duration::from_secs(5));
    }
    // Twenty minutes later the count still stands: the sixth wrong code
    // doubles the wait.
    app.clock.advance(Duration::from_secs(20 * 60));
    let token = mfa_token(&app, "ned").await;
    let r = second_step(&app, &token, "000000").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let r = second_step(&app, &token, &code(&app, &factor.secret, 1)).await;
    assert_eq!(r.headers()["retry-after"], "2");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    app.stop().await;
}

#[tokio::test]
async fn a_master_key_set_later_seals_the_secrets_already_stored_and_they_still_work() {
    const ISSUER: &str = "http://tessera.sealing.test";
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let app = TestApp::builder()
        .env("TESSERA_ISSUER", ISSUER)
        .spawn()
        .await;
    let pia = app.register("pia").await;
    let factor = enrol(&app, &pia).await;
    let url = app.database_url.clone();
    let store = tessera_core::store::connect(&url).await.unwrap();
    let user = store.user_by_username("pia").await.unwrap().unwrap().user;
    assert!(
        !store.factors_of(user.id).await.unwrap()[0].sealed,
        "in the clear first"
    );
    let _data = app.stop_keeping_data().await;

    let again = TestApp::builder()
        .env("TESSERA_ISSUER", ISSUER)
        .env("TESSERA_MASTER_KEY", key)
        .database_url(&url)
        .spawn()
        .await;
    let stored = store.factors_of(user.id).await.unwrap();
    assert!(stored[0].sealed, "sealed at start-up");
    let kept = stored[0].secret.clone().unwrap();
    assert!(
        !kept
            .windows(factor.secret.len())
            .any(|w| w == factor.secret.as_slice())
    );
    let token = mfa_token(&again, "pia").await;
    let r = second_step(&again, &token, &code(&again, &factor.secret, 1)).await;
    assert_eq!(r.status(), StatusCode::OK);
    again.stop().await;
}
