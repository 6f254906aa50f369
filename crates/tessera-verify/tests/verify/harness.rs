//! A real Tessera for the tests: the server crate's own `launch` on
//! 127.0.0.1 with a fresh SQLite database, on a runtime of its own in a
//! thread of its own — so that stopping it ends everything it runs, open
//! event streams included, as a process exit would. (Also used by
//! `examples/protected-api`'s tests.)

#![allow(dead_code, unreachable_pub)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tessera_core::password::HashCost;
use tessera_server::Config;
use tessera_verify::{ClientCredentials, PasswordLogin};
use tokio::sync::oneshot;

/// A password every test account uses.
pub const PASSWORD: &str = "plausible-passphrase-42";
/// The bootstrap admin: the account the event stream subscribes as.
pub const ADMIN: &str = "ops-admin";

/// A running Tessera.
pub struct Tessera {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub base: String,
    addr: SocketAddr,
    http: reqwest::Client,
    database_url: String,
    extra_env: Vec<(String, String)>,
    dir: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A user's tokens.
#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
}

impl Tessera {
    /// Starts a Tessera on a free port with a fresh database.
    pub async fn spawn() -> Tessera {
        Self::spawn_with(&[]).await
    }

    /// Starts a Tessera with extra configuration variables.
    pub async fn spawn_with(env: &[(&str, &str)]) -> Tessera {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = tessera_core::testing::fresh_sqlite_url(dir.path());
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let extra = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::start(addr, dir, url, extra).await
    }

    /// Stops this Tessera and starts another on the same port and data.
    pub async fn restart(mut self) -> Tessera {
        let (addr, url) = (self.addr, self.database_url.clone());
        let dir = self.dir.take().expect("data directory");
        let extra = std::mem::take(&mut self.extra_env);
        self.stop_now().await;
        Self::start(addr, dir, url, extra).await
    }

    /// Stops it: every task of its runtime ends, connections drop.
    pub async fn stop(mut self) {
        self.stop_now().await;
    }

    async fn stop_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .expect("join")
                .expect("server thread");
        }
    }

    async fn start(
        addr: SocketAddr,
        dir: tempfile::TempDir,
        database_url: String,
        extra_env: Vec<(String, String)>,
    ) -> Tessera {
        let listener = std::net::TcpListener::bind(addr).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let mut env = vec![
            ("TESSERA_BIND".to_owned(), addr.to_string()),
            ("TESSERA_DATABASE_URL".to_owned(), database_url.clone()),
            ("TESSERA_ADMIN_USERNAME".to_owned(), ADMIN.to_owned()),
            ("TESSERA_ADMIN_PASSWORD".to_owned(), PASSWORD.to_owned()),
            (
                "TESSERA_REGISTRATION_RATE".to_owned(),
                "100000/s".to_owned(),
            ),
            ("TESSERA_LOGIN_MAX_FAILURES".to_owned(), "100".to_owned()),
        ];
        env.extend(extra_env.iter().cloned());
        // The last setting of a variable wins.
        let mut config = Config::from_vars(env.clone()).expect("test configuration");
        // Cheap hashing keeps the suite fast.
        config.settings.hash_cost = HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        config.limits.shutdown_grace = Duration::from_secs(2);
        let (tx, rx) = oneshot::channel::<()>();
        // Bound before, started here: once `ready` answers, requests wait in
        // the listener's queue until the server answers them (no polling).
        let (ready_tx, ready_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let shutdown = async {
                    let _ = rx.await;
                };
                let ready = tessera_server::serve::prepare(
                    config,
                    listener,
                    std::sync::Arc::new(tessera_token::clock::SystemClock),
                )
                .await
                .unwrap_or_else(|e| panic!("Tessera did not start: {e}"));
                let _ = ready_tx.send(());
                if let Err(e) = ready.serve(shutdown).await {
                    panic!("Tessera stopped with an error: {e}");
                }
            });
            // Dropping the runtime cancels what is left, such as the tasks
            // serving upgraded WebSocket connections.
            runtime.shutdown_timeout(Duration::from_secs(5));
        });
        let tessera = Tessera {
            base: format!("http://{addr}"),
            addr,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(0)
                .build()
                .expect("client"),
            database_url,
            extra_env,
            dir: Some(dir),
            shutdown: Some(tx),
            thread: Some(thread),
        };
        ready_rx.await.expect("Tessera started");
        tessera
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        request.send().await.expect("request")
    }

    /// Registers `username`; asserts 201.
    pub async fn register(&self, username: &str) -> Session {
        let r = self
            .post(
                "/auth/register",
                None,
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "register {username}");
        session(r.json().await.expect("json"))
    }

    /// Logs in; asserts 200.
    pub async fn login(&self, username: &str) -> Session {
        let r = self
            .post(
                "/auth/login",
                None,
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "login {username}");
        session(r.json().await.expect("json"))
    }

    /// `POST /auth/logout`; asserts 204.
    pub async fn logout(&self, access: &str) {
        let r = self.post("/auth/logout", Some(access), None).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "logout");
    }

    /// `PATCH /users/{username}` as `admin`; asserts 200.
    pub async fn update_user(&self, admin: &str, username: &str, body: Value) {
        let r = self
            .http
            .patch(self.url(&format!("/users/{username}")))
            .bearer_auth(admin)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::OK, "update {username}");
    }

    /// `POST /admin/keys/rotate` as the bootstrap admin; the new kid.
    pub async fn rotate_keys(&self) -> String {
        let admin = self.login(ADMIN).await;
        let r = self
            .post("/admin/keys/rotate", Some(&admin.access), None)
            .await;
        assert_eq!(r.status(), StatusCode::OK, "rotate");
        let body: Value = r.json().await.expect("json");
        body["kid"].as_str().expect("kid").to_owned()
    }

    /// The event stream's token source: the bootstrap admin.
    pub fn admin_tokens(&self) -> PasswordLogin {
        PasswordLogin::new(&self.base, ADMIN, PASSWORD)
    }

    /// Registers a confidential client with `client_credentials` and
    /// `events:read` (as the bootstrap admin); its id and secret.
    pub async fn events_client(&self) -> (String, String) {
        let admin = self.login(ADMIN).await;
        let body = json!({"name": "relying service", "redirect_uris": [],
            "grant_types": ["client_credentials"], "scopes": ["events:read"], "confidential": true});
        let r = self
            .post("/admin/clients", Some(&admin.access), Some(body))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "register client");
        let body: Value = r.json().await.expect("json");
        (
            body["client"]["client_id"]
                .as_str()
                .expect("client_id")
                .into(),
            body["client_secret"].as_str().expect("secret").into(),
        )
    }

    /// The event stream's token source: an `events:read` client.
    pub async fn client_tokens(&self) -> ClientCredentials {
        let (id, secret) = self.events_client().await;
        ClientCredentials::new(&self.base, id, secret)
    }
}

impl Drop for Tessera {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn session(body: Value) -> Session {
    Session {
        access: body["access_token"].as_str().expect("access_token").into(),
        refresh: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .into(),
    }
}

/// The key id in a token's header.
pub fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("header");
    let bytes = tessera_token::crypto::b64url_decode(header).expect("base64url");
    let header: Value = serde_json::from_slice(&bytes).expect("JSON header");
    header["kid"].as_str().expect("kid").to_owned()
}

/// Waits (at most ten seconds) until `check` holds of the stream's state.
pub async fn wait_for_stream(
    verifier: &tessera_verify::Verifier,
    check: impl FnMut(&tessera_verify::StreamState) -> bool,
) {
    let mut watch = verifier.watch_stream().expect("events are on");
    tokio::time::timeout(Duration::from_secs(10), watch.wait_for(check))
        .await
        .expect("the stream reached the expected state in time")
        .expect("stream task alive");
}
