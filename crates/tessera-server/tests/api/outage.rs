//! A database outage, for real: a PostgreSQL server of the test's own
//! (initdb in a temporary directory, on its own port) is paused with
//! SIGSTOP on the postmaster and every backend, as a hung or cut-off
//! database looks to Tessera. While it is paused `/readyz` answers 503 at once, requests
//! that need the database fail fast with 503 `unavailable` instead of
//! hanging, and `/auth/verify` keeps answering from memory; once it
//! resumes, everything answers again within seconds.
//!
//! It needs PostgreSQL's server binaries and root (to run them as the
//! `postgres` user); without them the test is skipped, except under
//! `CI=true`, where that is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A PostgreSQL server of the test's own.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    pid: u32,
}

/// The directory of PostgreSQL's server binaries, if installed.
fn server_binaries() -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// Runs `program` as the `postgres` user; whether it succeeded.
fn as_postgres(program: &Path, args: &[&str]) -> bool {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Sends `signal` to the postmaster `pid` and every process it started
/// (each backend is a session of its own, so a process group is not enough).
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("pkill")
        .args([signal, "-P", &pid.to_string()])
        .status();
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
}

impl PrivatePostgres {
    /// Starts one, or says why it cannot.
    fn start() -> Result<Self, String> {
        let bin = server_binaries().ok_or("no PostgreSQL server binaries")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let chown = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status();
        if !chown.is_ok_and(|s| s.success()) {
            return Err("cannot hand a directory to the postgres user (not root?)".into());
        }
        let data_text = data.to_str().ok_or("path")?;
        if !as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data_text,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        ) {
            return Err("initdb failed".into());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let socket_dir = dir.path().to_str().ok_or("path")?.to_owned();
        let started = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("postgres"))
            .args(["-D", data_text, "-p", &port.to_string(), "-k", &socket_dir])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if started.is_err() {
            return Err("postgres did not start".into());
        }
        let pid_file = data.join("postmaster.pid");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready && let Ok(text) = std::fs::read_to_string(&pid_file) {
                let pid = text.lines().next().and_then(|l| l.trim().parse().ok());
                if let Some(pid) = pid {
                    return Ok(PrivatePostgres { dir, port, pid });
                }
            }
            if Instant::now() > deadline {
                return Err("postgres did not become ready".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops every process of the server where it stands (`SIGSTOP`).
    fn pause(&self) {
        signal(self.pid, "-STOP");
    }

    /// Lets them run again (`SIGCONT`).
    fn resume(&self) {
        signal(self.pid, "-CONT");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        signal(self.pid, "-CONT");
        signal(self.pid, "-KILL");
        let _ = &self.dir;
    }
}

/// The private server, or `None` where it cannot run outside CI.
fn private_postgres() -> Option<PrivatePostgres> {
    match PrivatePostgres::start() {
        Ok(pg) => Some(pg),
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("a private PostgreSQL is required under CI=true: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

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
