//! Rules 5 and 6, a well-signed token that is no longer or not yet good:
//! `exp`, `nbf` and `iat` against the clock and its leeway, `iss` and `aud`,
//! and the token of a logged-out session.

use super::*;
use std::time::Duration;
use tessera_token::clock::Clock as _;
use tessera_token::tokens::new_jti;

/// The default clock-skew leeway, in seconds.
const LEEWAY: i64 = 60;

/// The default access-token lifetime, in seconds.
const ACCESS_TTL: i64 = 900;

// ---------------------------------------------------------------------------
// Rule 5: exp, nbf, iat within the leeway; iss and aud
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_token_is_still_accepted_within_the_leeway_after_exp() {
    let app = TestApp::spawn().await;
    let session = app.register("alice").await;

    app.clock.advance(Duration::from_secs(
        (ACCESS_TTL + LEEWAY - 1).unsigned_abs(),
    ));

    assert_accepted(&app, &session.access, "a token 59 s past exp").await;
}

#[tokio::test]
async fn expired_token_is_refused() {
    let app = TestApp::spawn().await;
    let session = app.register("alice").await;
    assert_accepted(&app, &session.access, "a fresh token").await;

    app.clock
        .advance(Duration::from_secs((ACCESS_TTL + LEEWAY).unsigned_abs()));

    assert_refused(&app, &session.access, "a token 60 s past exp").await;
}

#[tokio::test]
async fn a_forged_exp_in_the_past_beyond_the_leeway_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let now = app.clock.now_secs();

    let within = forger.with_claim("exp", json!(now - LEEWAY + 1));
    let beyond = forger.with_claim("exp", json!(now - LEEWAY));

    assert_accepted(&app, &within, "exp 59 s ago").await;
    assert_refused(&app, &beyond, "exp 60 s ago").await;
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;

    let token = forger.without_claim("exp");

    assert_accepted(
        &app,
        &forger.with_claim("exp", forger.claims["exp"].clone()),
        "exp",
    )
    .await;
    assert_refused(&app, &token, "no exp").await;
}

#[tokio::test]
async fn an_exp_that_is_not_a_number_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let exp = forger.claims["exp"].as_i64().expect("exp");

    let cases = [
        (
            forger.with_claim("exp", json!(exp.to_string())),
            "exp as a string",
        ),
        (forger.with_claim("exp", Value::Null), "exp null"),
        (forger.with_claim("exp", json!([exp])), "exp as an array"),
    ];

    assert_accepted(
        &app,
        &forger.with_claim("exp", json!(exp)),
        "exp as a number",
    )
    .await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn nbf_in_the_future_beyond_the_leeway_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let now = app.clock.now_secs();

    let within = forger.with_claim("nbf", json!(now + LEEWAY));
    let beyond = forger.with_claim("nbf", json!(now + LEEWAY + 1));

    assert_accepted(&app, &within, "nbf 60 s ahead").await;
    assert_refused(&app, &beyond, "nbf 61 s ahead").await;
    assert_refused(
        &app,
        &forger.with_claim("nbf", json!(now + 3600)),
        "nbf in an hour",
    )
    .await;
}

#[tokio::test]
async fn iat_in_the_future_beyond_the_leeway_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let now = app.clock.now_secs();

    let within = forger.with_claim("iat", json!(now + LEEWAY));
    let beyond = forger.with_claim("iat", json!(now + LEEWAY + 1));

    assert_accepted(&app, &within, "iat 60 s ahead").await;
    assert_refused(&app, &beyond, "iat 61 s ahead").await;
    assert_refused(
        &app,
        &forger.with_claim("iat", json!(now + 3600)),
        "iat in an hour",
    )
    .await;
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let iss = forger.claims["iss"].as_str().expect("iss").to_owned();

    let cases = [
        (
            forger.with_claim("iss", json!("https://evil.example")),
            "another issuer",
        ),
        (
            forger.with_claim("iss", json!(format!("{iss}/"))),
            "the issuer with a slash",
        ),
        (
            forger.with_claim("iss", json!(iss.to_uppercase())),
            "the issuer in upper case",
        ),
        (
            forger.with_claim("iss", json!([iss])),
            "the issuer in an array",
        ),
        (forger.without_claim("iss"), "no issuer"),
    ];

    assert_accepted(
        &app,
        &forger.with_claim("iss", json!(iss)),
        "the real issuer",
    )
    .await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let aud = forger.claims["aud"].as_str().expect("aud").to_owned();

    let cases = [
        (
            forger.with_claim("aud", json!("https://api.other.example")),
            "another audience",
        ),
        (
            forger.with_claim("aud", json!(["https://api.other.example"])),
            "an array without ours",
        ),
        (forger.with_claim("aud", json!([])), "an empty array"),
        (
            forger.with_claim("aud", json!(format!("{aud}/"))),
            "ours with a slash",
        ),
        (forger.without_claim("aud"), "no audience"),
    ];

    assert_accepted(
        &app,
        &forger.with_claim("aud", json!(aud)),
        "the real audience",
    )
    .await;
    for (token, what) in cases {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn an_audience_array_containing_ours_is_accepted() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let aud = forger.claims["aud"].as_str().expect("aud").to_owned();

    let token = forger.with_claim("aud", json!(["https://api.other.example", aud]));

    assert_accepted(&app, &token, "an audience array with ours").await;
}

// ---------------------------------------------------------------------------
// Rule 6: revocation
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_token_of_a_logged_out_session_is_refused() {
    let app = TestApp::spawn().await;
    let forger = Forger::new(&app).await;
    let other = app.login("alice", PASSWORD).await;
    // A token minted later for the same session, with its own jti.
    let mut fresh = forger.claims();
    fresh.insert("jti".into(), json!(new_jti(app.clock.now_ms())));
    let fresh = forger.sign(&forger.header, &fresh);
    assert_accepted(&app, &fresh, "a fresh token of the session").await;

    let r = app
        .post("/auth/logout", Some(&forger.session.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    assert_refused(&app, &forger.session.access, "the logged-out token").await;
    assert_refused(&app, &fresh, "another token of the logged-out session").await;
    assert_accepted(&app, &other.access, "a token of another session").await;
}
