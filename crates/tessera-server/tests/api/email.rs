//! Email (SPEC §12) through a real SMTP server on 127.0.0.1: verification
//! links, password reset, the limits, and the failure paths — on SQLite,
//! and the main flows on PostgreSQL too.

use crate::factors::{enrol, mfa_token};
use crate::helpers::{PASSWORD, Session, TestApp, assert_error, json_body, session_from};
use crate::mailbox::{MailSink, free_port, smtp_url};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// A Tessera that mails through `sink`, with `env` on top.
async fn app_mailing(sink_url: &str, postgres: bool, env: &[(&str, &str)]) -> Option<TestApp> {
    let mut builder = TestApp::builder()
        .env("TESSERA_SMTP_URL", sink_url)
        .env("TESSERA_MAIL_FROM", "Tessera <login@tessera.test>")
        .env("TESSERA_DISPLAY_NAME", "Acme");
    for (k, v) in env {
        builder = builder.env(k, v);
    }
    if postgres {
        builder = builder.postgres();
    }
    builder.try_spawn().await
}

async fn register_with(app: &TestApp, username: &str, email: &str) -> Session {
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": username, "password": PASSWORD, "email": email}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "register {username}");
    session_from(username, PASSWORD, json_body(r).await)
}

/// The metrics once they hold one of `wanted` (every 100 ms, for up to
/// 10 s: the mailer retries in the background), or as they are then.
async fn metrics_with(app: &TestApp, wanted: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app.get("/metrics", None).await.text().await.unwrap();
        if wanted.iter().any(|w| metrics.contains(w)) || std::time::Instant::now() > deadline {
            return metrics;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn me(app: &TestApp, token: &str) -> Value {
    let r = app.get("/me", Some(token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    json_body(r).await["user"].clone()
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post("/auth/verify-email", None, json!({"token": token}))
        .await
}

async fn ask_reset(app: &TestApp, body: Value) -> Value {
    let r = app.post("/auth/password-reset", None, body).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    json_body(r).await
}

async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post(
        "/auth/password-reset/confirm",
        None,
        json!({"token": token, "new_password": password}),
    )
    .await
}

/// Registers `username` with `email` and follows the link mailed to it.
async fn verified(app: &TestApp, sink: &MailSink, username: &str, email: &str) -> Session {
    let session = register_with(app, username, email).await;
    let token = sink.mail_to(email).await.token("/verify-email");
    assert_eq!(verify(app, &token).await.status(), StatusCode::OK);
    session
}

async fn verification_flow(postgres: bool) {
    let sink = MailSink::start();
    let Some(app) = app_mailing(&sink.url(), postgres, &[]).await else {
        return;
    };
    let ada = register_with(&app, "ada", "Ada@Example.com").await;
    assert_eq!(me(&app, &ada.access).await["email_verified"], false);
    let mail = sink.mail_to("Ada@Example.com").await;
    assert_eq!(mail.subject(), "Confirm your email address for Acme");
    assert!(mail.text.contains("text/plain") && mail.text.contains("text/html"));
    assert!(mail.text.contains("If this wasn't you"));
    assert!(mail.text.contains("24 hours"));
    let link = mail.link("/verify-email");
    assert!(link.starts_with(&app.base), "{link}");
    // Following the link only shows a button: a mail scanner verifies nothing.
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<form"));
    assert_eq!(me(&app, &ada.access).await["email_verified"], false);
    let token = mail.token("/verify-email");
    let r = verify(&app, &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        json_body(r).await,
        json!({"email": "Ada@Example.com", "email_verified": true})
    );
    assert_eq!(me(&app, &ada.access).await["email_verified"], true);
    let info = json_body(app.get("/userinfo", Some(&ada.access)).await).await;
    assert_eq!(info["email"], "Ada@Example.com");
    assert_eq!(info["email_verified"], true);
    // A link works once.
    assert_error(
        verify(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
}

#[tokio::test]
async fn registering_with_an_email_mails_a_link_whose_page_verifies_it_once() {
    verification_flow(false).await;
}

#[tokio::test]
async fn postgres_registering_with_an_email_mails_a_link_that_verifies_it_once() {
    verification_flow(true).await;
}

#[tokio::test]
async fn any_token_that_is_not_a_live_link_is_invalid_link_whatever_its_shape() {
    let sink = MailSink::start();
    let app = app_mailing(&sink.url(), false, &[]).await.unwrap();
    for token in [
        "",
        "x",
        "not a token at all",
        &"A".repeat(43),
        &"é".repeat(500),
    ] {
        assert_error(
            verify(&app, token).await,
            StatusCode::BAD_REQUEST,
            "invalid_link",
        )
        .await;
        assert_error(
            confirm_reset(&app, token, "a brand new passphrase").await,
            StatusCode::BAD_REQUEST,
            "invalid_link",
        )
        .await;
    }
    // A verification link is no reset link, and the other way round.
    register_with(&app, "kim", "kim@example.com").await;
    let token = sink.mail_to("kim@example.com").await.token("/verify-email");
    assert_error(
        confirm_reset(&app, &token, "a brand new passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    assert_eq!(verify(&app, &token).await.status(), StatusCode::OK);
    ask_reset(&app, json!({"username": "kim"})).await;
    let reset = sink
        .nth_mail_to("kim@example.com", 2)
        .await
        .token("/reset-password");
    assert_error(
        verify(&app, &reset).await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
}

#[tokio::test]
async fn a_verification_link_expires_after_a_day() {
    let sink = MailSink::start();
    let app = app_mailing(&sink.url(), false, &[]).await.unwrap();
    register_with(&app, "lee", "lee@example.com").await;
    let token = sink.mail_to("lee@example.com").await.token("/verify-email");
    app.clock.advance(Duration::from_secs(24 * 3600 + 1));
    assert_error(
        verify(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
}

#[tokio::test]
async fn changing_ones_own_address_takes_the_password_unverifies_it_and_tells_both_addresses() {
    let sink = MailSink::start();
    let app = app_mailing(&sink.url(), false, &[]).await.unwrap();
    let ada = verified(&app, &sink, "ada", "ada@old.example").await;
    let path = "/users/ada";
    let change = json!({"email": "ada@new.example"});
    assert_error(
        app.patch(path, Some(&ada.access), change.clone()).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    )
    .await;
    assert_error(
        app.patch(
            path,
            Some(&ada.access),
            json!({"email": "ada@new.example", "current_password": "not my password"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    // Another field alone needs no password.
    let r = app
        .patch(path, Some(&ada.access), json!({"first_name": "Ada"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .patch(
            path,
            Some(&ada.access),
            json!({"email": "ada@new.example", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let user = json_body(r).await["user"].clone();
    assert_eq!(user["email"], "ada@new.example");
    assert_eq!(user["email_verified"], false);
    let notice = sink.nth_mail_to("ada@old.example", 2).await;
    assert_eq!(notice.subject(), "Your Acme email address was changed");
    assert!(notice.text.contains("a***@new.example"));
    assert!(!notice.text.contains("ada@new.example"));
    let link = sink.mail_to("ada@new.example").await.token("/verify-email");
    assert_eq!(verify(&app, &link).await.status(), StatusCode::OK);
    assert_eq!(me(&app, &ada.access).await["email_verified"], true);
    // An administrator changes another's address without their password.
    let admin = app.admin("root").await;
    let r = app
        .patch(
            path,
            Some(&admin.access),
            json!({"email": "ada@third.example"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["user"]["email_verified"], false);
    sink.mail_to("ada@third.example").await;
    // Clearing one's own address takes the password too.
    let r = app
        .patch(path, Some(&ada.access), json!({"email": null}))
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    let r = app
        .patch(
            path,
            Some(&ada.access),
            json!({"email": null, "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(json_body(r).await["user"]["email"], Value::Null);
}

#[tokio::test]
async fn a_link_verifies_only_the_address_it_was_sent_to_and_an_address_one_account_only() {
    let sink = MailSink::start();
    let app = app_mailing(&sink.url(), false, &[]).await.unwrap();
    // Two accounts may give one address; the first to verify it keeps it.
    let bob = register_with(&app, "bob", "shared@example.com").await;
    let bobs = sink.nth_mail_to("shared@example.com", 1).await;
    // One verification mail a minute per address (ignoring case).
    app.clock.advance(Duration::from_secs(61));
    register_with(&app, "eve", "SHARED@example.com").await;
    let eves = sink.nth_mail_to("shared@example.com", 2).await;
    assert_eq!(bobs.to, ["shared@example.com"]);
    assert_eq!(eves.to, ["SHARED@example.com"]);
    assert_eq!(
        verify(&app, &bobs.token("/verify-email")).await.status(),
        StatusCode::OK
    );
    assert_error(
        verify(&app, &eves.token("/verify-email")).await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    // Setting an address another account verified is refused.
    let carl = app.register("carl").await;
    assert_error(
        app.patch(
            "/users/carl",
            Some(&carl.access),
            json!({"email": "Shared@Example.com", "current_password": PASSWORD}),
        )
        .await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    // A link sent before the address changed verifies nothing.
    let r = app
        .patch(
            "/users/bob",
            Some(&bob.access),
            json!({"email": "bob@elsewhere.example", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let _ = sink.mail_to("bob@elsewhere.example").await;
    let r = app
        .patch(
            "/users/bob",
            Some(&bob.access),
            json!({"email": "bob@third.example", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let stale = sink
        .mail_to("bob@elsewhere.example")
        .await
        .token("/verify-email");
    assert_error(
        verify(&app, &stale).await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    assert_eq!(me(&app, &bob.access).await["email_verified"], false);
}

#[tokio::test]
async fn asking_for_the_link_again_sends_at_most_one_mail_a_minute() {
    let sink = MailSink::start();
    let app = app_mailing(&sink.url(), false, &[]).await.unwrap();
    let kim = register_with(&app, "kim", "kim@example.com").await;
    sink.mail_to("kim@example.com").await;
    for _ in 0..3 {
        let r = app
            .post("/me/email/verify", Some(&kim.access), json!({}))
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    sink.assert_count_stays("kim@example.com", 1).await;
    app.clock.advance(Duration::from_secs(61));
    let r = app
        .post("/me/email/verify", Some(&kim.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let second = sink.nth_mail_to("kim@example.com", 2).await;
    // Either link verifies.
    assert_eq!(
        verify(&app, &second.token("/verify-email")).await.status(),
        StatusCode::OK
    );
    // No address: nothing to verify.
    let joe = app.register("joe").await;
    assert_error(
        app.post("/me/email/verify", Some(&joe.access), json!({}))
            .await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    )
    .await;
}

async fn reset_flow(postgres: bool) {
    let sink = MailSink::start();
    let Some(app) = app_mailing(&sink.url(), postgres, &[]).await else {
        return;
    };
    let ada = verified(&app, &sink, "ada", "ada@example.com").await;
    enrol(&app, &ada).await;
    let other = app
        .post(
            "/auth/login/mfa",
            None,
            json!({"mfa_token": mfa_token(&app, "ada").await, "code": "000000"}),
        )
        .await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
    let mut events = crate::helpers::subscribe(&app, &app.admin("root").await.access).await;
    let body = ask_reset(&app, json!({"email": "ADA@example.com"})).await;
    let mail = sink.nth_mail_to("ada@example.com", 2).await;
    assert_eq!(mail.subject(), "Reset your Acme password");
    assert!(mail.text.contains("30 minutes"));
    assert!(mail.text.contains("If this wasn't you"));
    let token = mail.token("/reset-password");
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    // A password the policy refuses leaves the link live.
    assert_error(
        confirm_reset(&app, &token, "ada-is-my-password").await,
        StatusCode::BAD_REQUEST,
        "password_too_weak",
    )
    .await;
    let r = confirm_reset(&app, &token, "a completely new passphrase").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Every session ends at once, with its event.
    assert_error(
        app.get("/me", Some(&ada.access)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    assert_eq!(
        app.refresh(&ada.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let ada_id = ada.body["user"]["id"].clone();
    loop {
        let event = crate::helpers::next_event(&mut events).await;
        if event["type"] == "session.revoked" && event["sub"] == ada_id {
            assert!(event["sid"].is_string());
            break;
        }
    }
    // The old password is gone, the factor stays.
    let old = app
        .post(
            "/auth/login",
            None,
            json!({"username": "ada", "password": PASSWORD}),
        )
        .await;
    assert_error(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let new = app
        .post(
            "/auth/login",
            None,
            json!({"username": "ada", "password": "a completely new passphrase"}),
        )
        .await;
    assert_error(new, StatusCode::UNAUTHORIZED, "mfa_required").await;
    // A link works once.
    assert_error(
        confirm_reset(&app, &token, "yet another new passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    assert_eq!(body, json!({"status": "accepted"}));
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_ends_every_session_and_keeps_the_factors() {
    reset_flow(false).await;
}

#[tokio::test]
async fn postgres_a_reset_link_sets_a_new_password_once_ends_every_session_and_keeps_the_factors() {
    reset_flow(true).await;
}

#[tokio::test]
async fn a_newer_reset_link_voids_the_older_and_a_link_expires_after_the_reset_ttl() {
    let sink = MailSink::start();
    let app = app_mailing(&sink.url(), false, &[("TESSERA_RESET_TTL", "10m")])
        .await
        .unwrap();
    verified(&app, &sink, "ada", "ada@example.com").await;
    ask_reset(&app, json!({"username": "ada"})).await;
    let first = sink.nth_mail_to("ada@example.com", 2).await;
    assert!(first.text.contains("10 minutes"));
    ask_reset(&app, json!({"email": "ada@example.com"})).await;
    let second = sink.nth_mail_to("ada@example.com", 3).await;
    assert_error(
        confirm_reset(
            &app,
            &first.token("/reset-password"),
            "a completely new passphrase",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    app.clock.advance(Duration::from_secs(10 * 60 + 1));
    assert_error(
        confirm_reset(
            &app,
            &second.token("/reset-password"),
            "a completely new passphrase",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    app.login("ada", PASSWORD).await;
}

#[tokio::test]
async fn unknown_unverified_and_disabled_accounts_get_the_same_answer_and_no_mail() {
    let sink = MailSink::start();
    let app = app_mailing(&sink.url(), false, &[]).await.unwrap();
    verified(&app, &sink, "known", "known@example.com").await;
    register_with(&app, "unproven", "unproven@example.com").await;
    verified(&app, &sink, "gone", "gone@example.com").await;
    app.register("noaddress").await;
    let admin = app.admin("root").await;
    let r = app
        .patch(
            "/users/gone",
            Some(&admin.access),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let asks = [
        json!({"email": "known@example.com"}),
        json!({"email": "nobody@example.com"}),
        json!({"email": "unproven@example.com"}),
        json!({"email": "gone@example.com"}),
        json!({"username": "nobody"}),
        json!({"username": "unproven"}),
        json!({"username": "noaddress"}),
        json!({"username": "gone"}),
    ];
    let mut answers = Vec::new();
    for ask in asks {
        let r = app.post("/auth/password-reset", None, ask).await;
        answers.push((r.status(), r.text().await.unwrap()));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    sink.nth_mail_to("known@example.com", 2).await;
    sink.assert_count_stays("unproven@example.com", 1).await;
    sink.assert_count_stays("gone@example.com", 1).await;
    sink.assert_count_stays("known@example.com", 2).await;
    assert!(sink.mails_to("nobody@example.com").is_empty());
}

#[tokio::test]
async fn reset_mails_are_limited_per_address_and_per_client_ip_without_a_different_answer() {
    let sink = MailSink::start();
    let app = app_mailing(&sink.url(), false, &[]).await.unwrap();
    verified(&app, &sink, "ada", "ada@example.com").await;
    for _ in 0..7 {
        ask_reset(&app, json!({"email": "ada@example.com"})).await;
    }
    // 1 verification mail and 5 reset mails.
    sink.nth_mail_to("ada@example.com", 6).await;
    sink.assert_count_stays("ada@example.com", 6).await;
    // Asking for addresses nobody has sends nothing and costs nothing.
    for i in 0..30 {
        ask_reset(&app, json!({"email": format!("nobody{i}@example.com")})).await;
    }
    // Three more accounts take this client to 20 reset mails in the hour;
    // a fifth account's mail is one too many.
    for name in ["bob", "cid", "dee"] {
        let address = format!("{name}@example.com");
        verified(&app, &sink, name, &address).await;
        for _ in 0..5 {
            ask_reset(&app, json!({"username": name})).await;
        }
        sink.nth_mail_to(&address, 6).await;
    }
    verified(&app, &sink, "eve", "eve@example.com").await;
    ask_reset(&app, json!({"username": "eve"})).await;
    sink.assert_count_stays("eve@example.com", 1).await;
    // An hour later, mail goes out again.
    app.clock.advance(Duration::from_secs(3601));
    ask_reset(&app, json!({"username": "eve"})).await;
    sink.nth_mail_to("eve@example.com", 2).await;
}

#[tokio::test]
async fn without_smtp_the_mailing_endpoints_answer_503_and_nothing_else_changes() {
    let app = TestApp::spawn().await;
    let ada = app.register("ada").await;
    assert_error(
        app.post("/auth/password-reset", None, json!({"username": "ada"}))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "email_unavailable",
    )
    .await;
    assert_error(
        app.post("/me/email/verify", Some(&ada.access), json!({}))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "email_unavailable",
    )
    .await;
    // Registering with an address still works; it stays unverified.
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "bea", "password": PASSWORD, "email": "bea@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let bea = session_from("bea", PASSWORD, json_body(r).await);
    assert_eq!(me(&app, &bea.access).await["email_verified"], false);
}

#[tokio::test]
async fn a_relay_that_is_down_then_up_still_gets_the_mail() {
    let port = free_port();
    let app = app_mailing(&smtp_url(port), false, &[]).await.unwrap();
    let started = std::time::Instant::now();
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "ada", "password": PASSWORD, "email": "ada@example.com"}),
        )
        .await;
    // The request never waits for the relay.
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(started.elapsed() < Duration::from_secs(5));
    let retried = r#"tessera_mail_total{letter="verify_email",outcome="retried"}"#;
    let metrics = metrics_with(&app, &[retried]).await;
    assert!(metrics.contains(retried), "{metrics}");
    let sink = MailSink::start_on(port);
    let mail = sink.mail_to("ada@example.com").await;
    assert_eq!(
        verify(&app, &mail.token("/verify-email")).await.status(),
        StatusCode::OK
    );
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains(r#"tessera_mail_total{letter="verify_email",outcome="sent"} 1"#));
}

#[tokio::test]
async fn requiring_verified_addresses_holds_sign_in_until_the_link_is_followed() {
    let sink = MailSink::start();
    let app = app_mailing(
        &sink.url(),
        false,
        &[
            ("TESSERA_REQUIRE_VERIFIED_EMAIL", "true"),
            ("TESSERA_ADMIN_USERNAME", "root"),
            ("TESSERA_ADMIN_PASSWORD", "a secure admin passphrase"),
        ],
    )
    .await
    .unwrap();
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "ada", "password": PASSWORD}),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "ada", "password": PASSWORD, "email": "ada@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body = json_body(r).await;
    assert_eq!(body["user"]["username"], "ada");
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    let login = || {
        app.post(
            "/auth/login",
            None,
            json!({"username": "ada", "password": PASSWORD}),
        )
    };
    // A wrong password is still just that.
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "ada", "password": "wrong wrong wrong"}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_error(login().await, StatusCode::FORBIDDEN, "email_not_verified").await;
    // The refusal sent the link again (a minute after the first).
    app.clock.advance(Duration::from_secs(61));
    assert_error(login().await, StatusCode::FORBIDDEN, "email_not_verified").await;
    let again = sink.nth_mail_to("ada@example.com", 2).await;
    assert_eq!(
        verify(&app, &again.token("/verify-email")).await.status(),
        StatusCode::OK
    );
    assert_eq!(login().await.status(), StatusCode::OK);
    // The bootstrap admin was made by the operator: exempt.
    app.login("root", "a secure admin passphrase").await;
}

#[tokio::test]
async fn requiring_verified_addresses_without_smtp_stops_the_start() {
    let e = tessera_server::Config::from_vars([("TESSERA_REQUIRE_VERIFIED_EMAIL", "true")])
        .unwrap_err();
    assert_eq!(e.var, "TESSERA_REQUIRE_VERIFIED_EMAIL");
    let e = tessera_server::Config::from_vars([("TESSERA_SMTP_URL", "smtp://127.0.0.1:25")])
        .unwrap_err();
    assert_eq!(e.var, "TESSERA_MAIL_FROM");
    let e = tessera_server::Config::from_vars([
        ("TESSERA_SMTP_URL", "smtp://mail.example.com?tls=none"),
        ("TESSERA_MAIL_FROM", "login@example.com"),
    ])
    .unwrap_err();
    assert_eq!(e.var, "TESSERA_SMTP_URL");
    assert!(
        e.message.contains("only for a relay on this machine"),
        "{e}"
    );
    tessera_server::Config::from_vars([
        ("TESSERA_SMTP_URL", "smtp://localhost:25?tls=none"),
        ("TESSERA_MAIL_FROM", "login@example.com"),
    ])
    .unwrap();
}

#[tokio::test]
async fn id_tokens_and_userinfo_say_whether_the_address_is_confirmed() {
    use crate::helpers::{Browser, code_flow, jwt_parts, public_code_client};
    let sink = MailSink::start();
    let app = app_mailing(&sink.url(), false, &[]).await.unwrap();
    let root = app.admin("root").await;
    let client = app
        .create_client(&root.access, public_code_client("spa"))
        .await;
    register_with(&app, "ada", "ada@example.com").await;
    let mut browser = Browser::new(&app);
    let tokens = code_flow(&mut browser, &client, "ada").await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["email_verified"], false);
    let token = sink.mail_to("ada@example.com").await.token("/verify-email");
    assert_eq!(verify(&app, &token).await.status(), StatusCode::OK);
    let mut browser = Browser::new(&app);
    let tokens = code_flow(&mut browser, &client, "ada").await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["email_verified"], true);
    let access = tokens["access_token"].as_str().unwrap();
    let info = json_body(app.get("/userinfo", Some(access)).await).await;
    assert_eq!(info["email_verified"], true);
    // Without an address, neither claim.
    app.register("bob").await;
    let mut browser = Browser::new(&app);
    let tokens = code_flow(&mut browser, &client, "bob").await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert!(claims.get("email").is_none() && claims.get("email_verified").is_none());
}

#[tokio::test]
async fn the_hosted_login_page_holds_an_unconfirmed_address_and_says_why() {
    use crate::helpers::{Browser, first_form_fields};
    let sink = MailSink::start();
    let app = app_mailing(
        &sink.url(),
        false,
        &[("TESSERA_REQUIRE_VERIFIED_EMAIL", "true")],
    )
    .await
    .unwrap();
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "ada", "password": PASSWORD, "email": "ada@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut browser = Browser::new(&app);
    let sign_in = async |browser: &mut Browser<'_>| {
        let page = browser.get("/login").await.text().await.unwrap();
        let mut fields = first_form_fields(&page);
        fields.push(("username".into(), "ada".into()));
        fields.push(("password".into(), PASSWORD.into()));
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        browser.post_form("/login", &fields).await
    };
    let r = sign_in(&mut browser).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    assert!(page.contains("Confirm your email address first"), "{page}");
    assert!(page.contains("Forgot your password?"));
    let token = sink.mail_to("ada@example.com").await.token("/verify-email");
    assert_eq!(verify(&app, &token).await.status(), StatusCode::OK);
    let r = sign_in(&mut browser).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Sign-up on the page makes the account and says to confirm it.
    let mut newcomer = Browser::new(&app);
    let page = newcomer.get("/register").await.text().await.unwrap();
    let mut fields = first_form_fields(&page);
    fields.extend([
        ("username".to_owned(), "bea".to_owned()),
        ("password".to_owned(), PASSWORD.to_owned()),
        ("email".to_owned(), "bea@example.com".to_owned()),
    ]);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = newcomer.post_form("/register", &fields).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let page = r.text().await.unwrap();
    assert!(page.contains("Confirm your email address"), "{page}");
    sink.mail_to("bea@example.com").await;
}

#[tokio::test]
async fn a_relay_that_cannot_do_tls_gets_nothing_when_tls_is_required() {
    // The sink speaks plain SMTP only: neither STARTTLS-required nor
    // implicit TLS may fall back to sending the mail in the clear.
    let sink = MailSink::start();
    for url in [
        format!("smtp://127.0.0.1:{}?tls=required", sink.port),
        format!("smtps://127.0.0.1:{}", sink.port),
    ] {
        let app = app_mailing(&url, false, &[]).await.unwrap();
        register_with(&app, "ada", "ada@example.com").await;
        let given_up = [
            r#"tessera_mail_total{letter="verify_email",outcome="retried"}"#,
            r#"tessera_mail_total{letter="verify_email",outcome="failed"}"#,
        ];
        let metrics = metrics_with(&app, &given_up).await;
        assert!(
            given_up.iter().any(|m| metrics.contains(m)),
            "{url}: {metrics}"
        );
        // Nor on a later attempt.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let metrics = app.get("/metrics", None).await.text().await.unwrap();
        assert!(!metrics.contains(r#"outcome="sent""#), "{url}");
    }
    assert!(sink.mails().is_empty(), "nothing went out in the clear");
}
