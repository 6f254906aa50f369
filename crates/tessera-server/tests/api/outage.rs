//! A database outage, for real: a PostgreSQL server of the test's own
//! (initdb in a temporary directory, on its own port) is paused with
//! SIGSTOP on the postmaster and every backend, as a hung or cut-off
//! database looks to Tessera. While it is paused `/readyz` answers 503 at once, requests
//! that need the database fail fast with 503 `unavailable` instead of
//! hanging, and `/auth/verify` keeps answering from memory; once it
//! resumes, everything answers again within seconds.
//!
//! It needs PostgreSQL's server binaries and root (to run them as the
//! `postgres` user; `tessera_core::testing::PrivatePostgres`); without them
//! the test is skipped, except under `CI=true`, where that is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use tessera_core::testing::{private_postgres, signal_processes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_database_makes_requests_fail_fast_and_verify_answer_from_memory() {
    let Some(pg) = private_postgres() else {
        return;
    };
    let app = TestApp::builder().database_url(&pg.url()).spawn().await;
    let alice = app.register("alice").await;
    app.login("alice", PASSWORD).await;
    let verify = |token: &str| {
        app.client
            .get(app.url("/auth/verify"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        verify(&alice.access).await.unwrap().status(),
        StatusCode::OK
    );

    pg.pause();
    let started = Instant::now();
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let readyz = started.elapsed();
    assert!(readyz < Duration::from_secs(4), "readyz took {readyz:?}");

    let started = Instant::now();
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(r.headers()["retry-after"], "2");
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(took < Duration::from_secs(8), "login took {took:?}");

    // Verification needs no database: it answers at once, from memory.
    let started = Instant::now();
    assert_eq!(
        verify(&alice.access).await.unwrap().status(),
        StatusCode::OK
    );
    assert!(started.elapsed() < Duration::from_secs(1));

    pg.resume();
    let resumed = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if app.get("/readyz", None).await.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready again 15 s after the database resumed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Connections that were waiting when it froze are dropped or recover:
    // logins work again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = app
            .post(
                "/auth/login",
                None,
                json!({"username": "alice", "password": PASSWORD}),
            )
            .await;
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "login still {} after recovery",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "outage: readyz 503 in {readyz:?}, login 503 in {took:?}, logins again {:?} after the database resumed",
        resumed.elapsed()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_database_loses_nothing_acknowledged_and_requests_fail_fast_meanwhile() {
    let Some(mut pg) = private_postgres() else {
        return;
    };
    let app = TestApp::builder().database_url(&pg.url()).spawn().await;
    let bea = app.register("bea").await;
    // Acknowledged before the restart: a logout and a registration.
    let r = app.post("/auth/logout", Some(&bea.access), json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let kept = app.register("kept").await;

    pg.stop();
    let started = Instant::now();
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "during", "password": PASSWORD}),
        )
        .await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        app.get("/readyz", None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Revoked before the outage, refused during it (from memory).
    let r = app.get("/me", Some(&bea.access)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;

    pg.launch().expect("postgres starts again");
    let restarted = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if app.get("/readyz", None).await.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready 15 s after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready = restarted.elapsed();
    // Nothing acknowledged was lost; the logout still holds.
    let deadline = Instant::now() + Duration::from_secs(15);
    let again = loop {
        let r = app
            .post(
                "/auth/login",
                None,
                json!({"username": "kept", "password": PASSWORD}),
            )
            .await;
        if r.status() == StatusCode::OK {
            break json_body(r).await;
        }
        assert!(
            Instant::now() < deadline,
            "login still {} after the restart",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(again["user"]["id"], kept.body["user"]["id"]);
    let r = app.refresh(&bea.refresh).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    eprintln!("restart: ready again {ready:?} after PostgreSQL started");
    app.stop().await;
}

/// A replica that cannot read the database still learns of a logout made
/// on another one: the revocation travels in the notification that
/// announces the commit, so a logout acknowledged just before the database
/// stops is refused everywhere at once, not once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_reaches_a_replica_that_cannot_read_the_database() {
    let Some(pg) = private_postgres() else {
        return;
    };
    let replica = |name: &str| {
        TestApp::builder()
            .database_url(&format!("{}?application_name={name}", pg.url()))
            .env("TESSERA_ISSUER", "http://tessera.replicas.test")
            .spawn()
    };
    let first = replica("first").await;
    let second = replica("second").await;
    let kim = first.register("kim").await;
    let other = first.login("kim", PASSWORD).await;
    let verify = |token: &str| {
        second
            .client
            .get(second.url("/auth/verify"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        verify(&other.access).await.unwrap().status(),
        StatusCode::OK
    );

    // Every connection of the second replica but its listener hangs.
    let frozen = pg.backends(
        "SELECT pid FROM pg_stat_activity \
         WHERE application_name = 'second' AND query NOT ILIKE 'LISTEN%'",
    );
    let listening = pg.backends(
        "SELECT pid FROM pg_stat_activity \
         WHERE application_name = 'second' AND query ILIKE 'LISTEN%'",
    );
    assert!(!frozen.is_empty() && listening.len() == 1);
    signal_processes(&frozen, "-STOP");
    let _thawed = Thaw(&frozen);

    let r = first
        .post("/auth/logout", Some(&other.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let logged_out = Instant::now();
    let refused = loop {
        let status = verify(&other.access).await.unwrap().status();
        if status == StatusCode::UNAUTHORIZED {
            break logged_out.elapsed();
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            logged_out.elapsed() < Duration::from_secs(3),
            "the second replica still accepts a token logged out 3 s ago"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Its other tokens stay good.
    assert_eq!(verify(&kim.access).await.unwrap().status(), StatusCode::OK);
    drop(_thawed);
    eprintln!("a logout reached the replica that cannot read in {refused:?}");
    second.stop().await;
    first.stop().await;
}

/// Resumes stopped processes when dropped, a failed assertion included.
struct Thaw<'a>(&'a [u32]);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        signal_processes(self.0, "-CONT");
    }
}
