//! Revocations through the `/events` stream: applied at once, without
//! fetching anything, caught up after a reconnection, and — when asked —
//! failing closed while the stream is down.

use crate::harness::{ADMIN, Tessera, wait_for_stream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_token::clock::{Clock, ManualClock, SystemClock};
use tessera_verify::{TokenError, Verifier, VerifyError};

const REVOKED: Result<(), VerifyError> = Err(VerifyError::Invalid(TokenError::Revoked));

async fn ready(verifier: &Verifier) {
    tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .expect("ready in time")
        .expect("keys fetched");
}

#[tokio::test]
async fn a_logout_is_refused_through_the_event_stream_without_refetching() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let verifier = Verifier::builder(&tessera.base)
        .events(tessera.admin_tokens())
        .build()
        .unwrap();
    ready(&verifier).await;
    let claims = verifier.verify(&alice.access).await.unwrap();
    let fetches = verifier.jwks_fetches();
    let applied = verifier.stream_state().unwrap().revocations_applied;

    let started = Instant::now();
    tessera.logout(&alice.access).await;
    wait_for_stream(&verifier, |s| s.revocations_applied > applied).await;

    assert_eq!(verifier.verify(&alice.access).await.map(drop), REVOKED);
    assert!(started.elapsed() < Duration::from_secs(5));
    let left = claims.exp * 1000 - SystemClock.now_ms();
    assert!(left > 10 * 60 * 1000, "long before expiry ({left} ms left)");
    assert_eq!(verifier.jwks_fetches(), fetches, "nothing was fetched");
}

#[tokio::test]
async fn an_events_read_client_follows_every_users_revocations_without_an_admin_account() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let verifier = Verifier::builder(&tessera.base)
        .events(tessera.client_tokens().await)
        .build()
        .unwrap();
    ready(&verifier).await;
    verifier.verify(&alice.access).await.unwrap();
    wait_for_stream(&verifier, |s| s.connected).await;
    let applied = verifier.stream_state().unwrap().revocations_applied;

    tessera.logout(&alice.access).await;
    wait_for_stream(&verifier, |s| s.revocations_applied > applied).await;

    assert_eq!(verifier.verify(&alice.access).await.map(drop), REVOKED);
}

#[tokio::test]
async fn an_access_token_revoked_through_oauth_revoke_is_refused_and_its_session_is_not() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let verifier = Verifier::builder(&tessera.base)
        .events(tessera.client_tokens().await)
        .build()
        .unwrap();
    ready(&verifier).await;
    wait_for_stream(&verifier, |s| s.connected).await;
    let applied = verifier.stream_state().unwrap().revocations_applied;

    let r = reqwest::Client::new()
        .post(tessera.url("/oauth/revoke"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", alice.access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    wait_for_stream(&verifier, |s| s.revocations_applied > applied).await;

    assert_eq!(verifier.verify(&alice.access).await.map(drop), REVOKED);
    let again = tessera.login("alice").await;
    verifier.verify(&again.access).await.unwrap();
}

#[tokio::test]
async fn a_logout_from_before_the_verifier_started_is_replayed() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let bob = tessera.register("bob").await;
    tessera.logout(&alice.access).await;

    let verifier = Verifier::builder(&tessera.base)
        .events(tessera.admin_tokens())
        .build()
        .unwrap();
    ready(&verifier).await;

    assert_eq!(verifier.verify(&alice.access).await.map(drop), REVOKED);
    verifier.verify(&bob.access).await.unwrap();
}

#[tokio::test]
async fn a_role_change_refuses_earlier_tokens_and_accepts_later_ones() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let admin = tessera.login(ADMIN).await;
    let verifier = Verifier::builder(&tessera.base)
        .events(tessera.admin_tokens())
        .build()
        .unwrap();
    ready(&verifier).await;
    verifier.verify(&alice.access).await.unwrap();
    let applied = verifier.stream_state().unwrap().revocations_applied;

    tessera
        .update_user(
            &admin.access,
            "alice",
            serde_json::json!({"roles": ["user", "editor"]}),
        )
        .await;
    wait_for_stream(&verifier, |s| s.revocations_applied > applied).await;

    assert_eq!(verifier.verify(&alice.access).await.map(drop), REVOKED);
    let later = tessera.login("alice").await;
    let claims = verifier.verify(&later.access).await.unwrap();
    assert!(claims.has_role("editor"));
}

#[tokio::test]
async fn revocations_missed_while_disconnected_are_replayed_on_reconnection() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let verifier = Verifier::builder(&tessera.base)
        .events(tessera.admin_tokens())
        // Long enough for the restart and the logout to happen while down.
        .reconnect_backoff(Duration::from_secs(4), Duration::from_secs(4))
        .build()
        .unwrap();
    ready(&verifier).await;
    verifier.verify(&alice.access).await.unwrap();

    let tessera = tessera.restart().await;
    wait_for_stream(&verifier, |s| !s.connected).await;
    tessera.logout(&alice.access).await;
    assert!(!verifier.stream_state().unwrap().connected);
    verifier.verify(&alice.access).await.unwrap();

    wait_for_stream(&verifier, |s| s.connected).await;
    assert_eq!(verifier.verify(&alice.access).await.map(drop), REVOKED);
    assert_eq!(verifier.stream_state().unwrap().replays_truncated, 0);
}

#[tokio::test]
async fn fail_closed_engages_when_the_stream_is_down_too_long() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let clock = ManualClock::starting_now();
    let build = |fail_closed: Option<Duration>| {
        let builder = Verifier::builder(&tessera.base)
            .events(tessera.admin_tokens())
            .reconnect_backoff(Duration::from_millis(100), Duration::from_secs(1))
            .clock(Arc::new(clock.clone()));
        match fail_closed {
            Some(after) => builder.fail_closed_after(after),
            None => builder,
        }
        .build()
        .unwrap()
    };
    let strict = build(Some(Duration::from_secs(10)));
    let lenient = build(None);
    ready(&strict).await;
    ready(&lenient).await;
    strict.verify(&alice.access).await.unwrap();

    tessera.stop().await;
    wait_for_stream(&strict, |s| !s.connected).await;
    strict.verify(&alice.access).await.unwrap();
    clock.advance(Duration::from_secs(11));

    assert!(matches!(
        strict.verify(&alice.access).await,
        Err(VerifyError::StreamDown(d)) if d > Duration::from_secs(10)
    ));
    lenient.verify(&alice.access).await.unwrap();
}

#[tokio::test]
async fn the_stream_renews_its_token_and_outlives_it() {
    // Four-second tokens and no leeway: Tessera closes a connection whose
    // token has expired, unless it was given a newer one in time.
    let tessera =
        Tessera::spawn_with(&[("TESSERA_ACCESS_TTL", "4s"), ("TESSERA_LEEWAY", "0s")]).await;
    let verifier = Verifier::builder(&tessera.base)
        .events(tessera.admin_tokens())
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    ready(&verifier).await;
    let mut watch = verifier.watch_stream().unwrap();
    let dropped = tokio::spawn(async move { watch.wait_for(|s| !s.connected).await.is_ok() });

    tokio::time::sleep(Duration::from_secs(7)).await;
    let alice = tessera.register("alice").await;
    verifier.verify(&alice.access).await.unwrap();
    let applied = verifier.stream_state().unwrap().revocations_applied;
    tessera.logout(&alice.access).await;
    wait_for_stream(&verifier, |s| s.revocations_applied > applied).await;

    assert_eq!(verifier.verify(&alice.access).await.map(drop), REVOKED);
    assert!(!dropped.is_finished(), "the first connection never dropped");
    dropped.abort();
}
