//! The test harness: `TestApp::spawn()` starts a real Tessera on 127.0.0.1:0
//! with a fresh database (SQLite by default, PostgreSQL on request), an
//! injected clock, and cheap Argon2 parameters; typed helpers speak HTTP.

#![allow(dead_code, unreachable_pub)]

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tessera_core::clock::ManualClock;
use tessera_core::password::HashCost;
use tessera_server::Config;
use tokio::sync::oneshot;

/// A password that passes the default policy for any test username.
pub const PASSWORD: &str = "plausible-passphrase-42";

/// Which database a test app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Builds a [`TestApp`].
pub struct TestAppBuilder {
    env: HashMap<String, String>,
    backend: Backend,
    database_url: Option<String>,
}

impl TestAppBuilder {
    /// Sets a configuration variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Runs on PostgreSQL (a fresh schema).
    pub fn postgres(mut self) -> Self {
        self.backend = Backend::Postgres;
        self
    }

    /// Uses an explicit database URL (to share one between apps).
    pub fn database_url(mut self, url: &str) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// Starts the app; `None` only when PostgreSQL was asked for, is
    /// unreachable, and is not required (outside CI).
    pub async fn try_spawn(self) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = match (self.database_url, self.backend) {
            (Some(url), _) => url,
            (None, Backend::Sqlite) => tessera_core::testing::fresh_sqlite_url(dir.path()),
            (None, Backend::Postgres) => tessera_core::testing::fresh_postgres_url().await?,
        };
        let mut env = self.env;
        env.entry("TESSERA_BIND".into())
            .or_insert_with(|| "127.0.0.1:0".into());
        // Every test client is 127.0.0.1: keep per-IP limits out of the way
        // unless a test is about them.
        env.entry("TESSERA_REGISTRATION_RATE".into())
            .or_insert_with(|| "100000/s".into());
        env.entry("TESSERA_LOGIN_MAX_FAILURES".into())
            .or_insert_with(|| "100".into());
        env.insert("TESSERA_DATABASE_URL".into(), url.clone());
        let mut config = Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration");
        // Cheap hashing keeps the suite fast; the production cost is tested in the core.
        config.settings.hash_cost = HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let clock = ManualClock::starting_now();
        let (tx, rx) = oneshot::channel::<()>();
        let server_clock = Arc::new(clock.clone());
        let handle = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            tessera_server::launch_with_clock(config, listener, server_clock, shutdown).await
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let app = TestApp {
            base: format!("http://{addr}"),
            addr,
            client,
            clock,
            database_url: url,
            shutdown: Some(tx),
            handle: Some(handle),
            dir: Some(dir),
        };
        // Wait until the server answers (start-up runs migrations first),
        // with a client that keeps no idle connection open afterwards.
        let probe = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("probe client");
        for _ in 0..200 {
            if let Ok(r) = probe.get(app.url("/healthz")).send().await
                && r.status() == StatusCode::OK
            {
                return Some(app);
            }
            if app.handle.as_ref().is_some_and(|h| h.is_finished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("test server did not start");
    }

    /// Starts the app, panicking if it cannot.
    pub async fn spawn(self) -> TestApp {
        assert_eq!(
            self.backend,
            Backend::Sqlite,
            "use try_spawn for PostgreSQL"
        );
        self.try_spawn().await.expect("server")
    }
}

/// A running Tessera and a client for it.
pub struct TestApp {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), tessera_server::serve::ServeError>>>,
    dir: Option<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A registered user with their tokens.
#[derive(Debug, Clone)]
pub struct Session {
    pub username: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            env: HashMap::new(),
            backend: Backend::Sqlite,
            database_url: None,
        }
    }

    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }

    /// Stops the server but keeps its database directory, for a restart on
    /// the same data with `builder().database_url(..)`.
    pub async fn stop_keeping_data(mut self) -> Option<tempfile::TempDir> {
        let dir = self.dir.take();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.send(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.send(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.send(Method::DELETE, path, token, None).await
    }

    /// Registers `username` with [`PASSWORD`]; asserts 201.
    pub async fn register(&self, username: &str) -> Session {
        let r = self
            .post(
                "/auth/register",
                None,
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "register {username}");
        let body: Value = r.json().await.expect("json");
        session_from(username, PASSWORD, body)
    }

    /// Logs in; asserts 200.
    pub async fn login(&self, username: &str, password: &str) -> Session {
        let r = self
            .post(
                "/auth/login",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "login {username}");
        session_from(username, password, r.json().await.expect("json"))
    }

    /// Refreshes; returns the raw response.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post(
            "/auth/refresh",
            None,
            json!({"refresh_token": refresh_token}),
        )
        .await
    }

    /// Registers a user and gives them the admin role directly in the
    /// database (what `tessera user set-roles` amounts to); returns a fresh
    /// login, whose token carries the role.
    pub async fn admin(&self, username: &str) -> Session {
        self.register(username).await;
        let store = tessera_core::store::connect(&self.database_url)
            .await
            .expect("store");
        let user = store
            .user_by_username(username)
            .await
            .expect("lookup")
            .expect("user");
        let changes = tessera_core::store::UserChanges {
            roles: Some(tessera_core::model::normalize_roles(["admin"])),
            ..Default::default()
        };
        let now = tessera_core::clock::Clock::now_ms(&self.clock);
        store
            .update_user(user.user.id, &changes, now, &Default::default())
            .await
            .expect("set roles");
        self.login(username, PASSWORD).await
    }
}

pub fn session_from(username: &str, password: &str, body: Value) -> Session {
    Session {
        username: username.into(),
        password: password.into(),
        access: body["access_token"].as_str().expect("access_token").into(),
        refresh: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .into(),
        body,
    }
}

/// Reads a JSON body.
pub async fn json_body(r: Response) -> Value {
    r.json().await.expect("json body")
}

/// Asserts an error response's status and code, returning its body.
pub async fn assert_error(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status, "status");
    let body: Value = r.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "code in {body}");
    assert_eq!(body["error"]["status"], status.as_u16(), "status in body");
    assert!(body["error"]["message"].is_string());
    body
}
