//! Abuse resistance (SPEC §6): login throttling per username and per IP with
//! capped backoff, registration rate per IP, state kept in the database.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

async fn login_status(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.post(
        "/auth/login",
        None,
        json!({"username": username, "password": password}),
    )
    .await
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn repeated_failures_for_a_username_are_slowed_then_refused_with_retry_after() {
    let app = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "3")
        .spawn()
        .await;
    app.register("bob").await;
    for _ in 0..3 {
        assert_error(
            login_status(&app, "bob", "wrong password!").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    // Blocked for 1 s: even the right password waits.
    let r = login_status(&app, "BOB", PASSWORD).await;
    assert_eq!(retry_after(&r), 1);
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    app.clock.advance(Duration::from_secs(1));
    assert_eq!(
        login_status(&app, "bob", "wrong again!!").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = login_status(&app, "bob", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&r), 2, "the wait doubles");

    app.clock.advance(Duration::from_secs(2));
    assert_eq!(
        login_status(&app, "bob", PASSWORD).await.status(),
        StatusCode::OK
    );
    // Success forgives the username's failures.
    assert_eq!(
        login_status(&app, "bob", "wrong once more").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_status(&app, "bob", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_wait_is_capped_so_an_attacker_cannot_lock_a_user_out_for_long() {
    let app = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "1")
        .env("TESSERA_LOCKOUT_MAX", "5s")
        .spawn()
        .await;
    app.register("carol").await;
    for _ in 0..12 {
        let r = login_status(&app, "carol", "not the password").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry_after(&r) <= 5);
            app.clock.advance(Duration::from_secs(retry_after(&r)));
        }
    }
    app.clock.advance(Duration::from_secs(5));
    assert_eq!(
        login_status(&app, "carol", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn one_client_ip_guessing_many_usernames_is_throttled() {
    // Per IP the threshold is four times the per-username one: 2 × 4 = 8.
    let app = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "2")
        .spawn()
        .await;
    for i in 0..8 {
        let r = login_status(&app, &format!("ghost{i}"), "some password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = login_status(&app, "ghost-new", "some password").await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn throttling_survives_a_restart() {
    let first = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "1")
        .spawn()
        .await;
    first.register("dave").await;
    // Five failures past the threshold: a 16 s block.
    for _ in 0..6 {
        login_status(&first, "dave", "wrong password").await;
        first.clock.advance(Duration::from_secs(20));
    }
    login_status(&first, "dave", "wrong password").await;
    let url = first.database_url.clone();
    let started = first.clock.clone();
    let second = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "1")
        .database_url(&url)
        .spawn()
        .await;
    second
        .clock
        .set(tessera_token::clock::Clock::now_ms(&started));
    let r = login_status(&second, "dave", PASSWORD).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    drop(first);
}

#[tokio::test]
async fn registrations_are_rate_limited_per_client_ip() {
    let app = TestApp::builder()
        .env("TESSERA_REGISTRATION_RATE", "2/min")
        .spawn()
        .await;
    app.register("reg1").await;
    app.register("reg2").await;
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "reg3", "password": PASSWORD}),
        )
        .await;
    let wait = retry_after(&r);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    app.clock.advance(Duration::from_secs(60));
    app.register("reg3").await;
}

async fn register_from(app: &TestApp, username: &str, forwarded_for: &str) -> StatusCode {
    app.client
        .post(app.url("/auth/register"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let trusting = TestApp::builder()
        .env("TESSERA_REGISTRATION_RATE", "1/h")
        .env("TESSERA_TRUSTED_PROXIES", "127.0.0.1/32")
        .spawn()
        .await;
    assert_eq!(
        register_from(&trusting, "xff1", "203.0.113.1").await,
        StatusCode::CREATED
    );
    assert_eq!(
        register_from(&trusting, "xff2", "203.0.113.2").await,
        StatusCode::CREATED
    );
    assert_eq!(
        register_from(&trusting, "xff3", "203.0.113.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );

    let untrusting = TestApp::builder()
        .env("TESSERA_REGISTRATION_RATE", "1/h")
        .spawn()
        .await;
    assert_eq!(
        register_from(&untrusting, "xff1", "203.0.113.1").await,
        StatusCode::CREATED
    );
    assert_eq!(
        register_from(&untrusting, "xff2", "203.0.113.2").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_forged_left_most_forwarded_address_does_not_escape_the_ip_throttle() {
    // The proxy appends the client's address with its port; the client
    // forges a new left-most address on every attempt. Per IP the
    // threshold is 2 × 4 = 8 failures.
    let app = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "2")
        .env("TESSERA_TRUSTED_PROXIES", "127.0.0.1/32")
        .spawn()
        .await;
    // A new username every time: only the per-IP count can catch them.
    let attempt = std::sync::atomic::AtomicU32::new(0);
    let guess = |_: u32, forwarded: String| {
        let app = &app;
        let n = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move {
            app.client
                .post(app.url("/auth/login"))
                .header("x-forwarded-for", forwarded)
                .json(&json!({"username": format!("ghost{n}"), "password": "some password"}))
                .send()
                .await
                .unwrap()
        }
    };
    for (client, spelling) in [
        ("6.6.6.6", "6.6.6.6:5555"),
        ("2001:db8::1", "[2001:db8::1]:443"),
        ("2001:db8::2", "[2001:db8::2]"),
    ] {
        for i in 0..8 {
            let r = guess(i, format!("10.0.{i}.{i}, {spelling}")).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{client} attempt {i}");
        }
        let r = guess(99, format!("10.9.9.9, {spelling}")).await;
        assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    }
    // An entry that does not parse counts as the proxy itself, never as the
    // forged address left of it.
    for i in 0..8 {
        let r = guess(i, format!("10.1.{i}.{i}, unknown")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "unknown attempt {i}");
    }
    let r = guess(99, "10.9.9.8, unknown".into()).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn a_burst_of_simultaneous_guesses_is_admitted_only_up_to_the_threshold() {
    let app = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "5")
        .spawn()
        .await;
    app.register("erin").await;
    let attempts = (0..60).map(|_| login_status(&app, "erin", "not her password"));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, 60, "{statuses:?}");
    // Checked one at a time: exactly the threshold, then the block holds.
    assert_eq!(
        checked, 5,
        "{checked} passwords were checked in a burst of 60"
    );
}

#[tokio::test]
async fn simultaneous_logins_with_the_right_password_all_succeed() {
    let app = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "3")
        .spawn()
        .await;
    app.register("gwen").await;
    let logins = (0..20).map(|_| login_status(&app, "gwen", PASSWORD));
    for r in futures::future::join_all(logins).await {
        assert_eq!(r.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn guessing_the_current_password_with_a_stolen_token_is_throttled_too() {
    let app = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "3")
        .spawn()
        .await;
    let frank = app.register("frank").await;
    let change = |current: &'static str| {
        app.post(
            "/users/frank/password",
            Some(&frank.access),
            json!({"current_password": current, "new_password": "a brand new passphrase"}),
        )
    };
    for _ in 0..3 {
        assert_error(
            change("guess guess guess").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    let r = change(PASSWORD).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // And the login of that username waits as well.
    let r = login_status(&app, "frank", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}
