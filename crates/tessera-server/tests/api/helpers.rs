//! The test harness: `TestApp::spawn()` starts a real Tessera on 127.0.0.1:0
//! with a fresh database (SQLite by default, PostgreSQL on request), an
//! injected clock, and cheap Argon2 parameters; typed helpers speak HTTP.

#![allow(dead_code, unreachable_pub)]

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tessera_core::password::HashCost;
use tessera_server::Config;
use tessera_token::clock::ManualClock;
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
        let mut config = Config::from_vars(&env).expect("test configuration");
        // Cheap hashing keeps the suite fast; the production cost is tested in the core.
        config.settings.hash_cost = HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        // Bound first, then started, then served: once `prepare` returns the
        // domain is ready, and requests wait in the listener's queue until
        // `serve` answers them, so no test has to poll for readiness.
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let clock = ManualClock::starting_now();
        let (tx, rx) = oneshot::channel::<()>();
        let server_clock = Arc::new(clock.clone());
        let ready = tessera_server::serve::prepare(config, listener, server_clock)
            .await
            .expect("Tessera starts");
        let handle = tokio::spawn(ready.serve(async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Some(TestApp {
            base: format!("http://{addr}"),
            addr,
            client,
            clock,
            database_url: url,
            shutdown: Some(tx),
            handle: Some(handle),
            dir: Some(dir),
        })
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
        let now = tessera_token::clock::Clock::now_ms(&self.clock);
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

// ------------------------------------------------------------ OAuth and SSO

/// Where the test clients say they live; never contacted (redirects are not
/// followed).
pub const REDIRECT_URI: &str = "https://app.example/callback";
/// A registered post-logout redirect URI.
pub const POST_LOGOUT_URI: &str = "https://app.example/signed-out";

/// A registered OAuth client: its id, its secret (confidential clients only)
/// and the registration answer.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub id: String,
    pub secret: Option<String>,
    pub body: Value,
}

impl OAuthApp {
    /// HTTP Basic credentials of a confidential client.
    pub fn basic(&self) -> Option<(&str, &str)> {
        Some((
            &self.id,
            self.secret.as_deref().expect("a confidential client"),
        ))
    }
}

/// A registration for a public browser application using the code flow.
pub fn public_code_client(name: &str) -> Value {
    json!({
        "name": name,
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": [POST_LOGOUT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile", "email"],
        "confidential": false,
    })
}

/// A form body (`application/x-www-form-urlencoded`).
pub fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// A PKCE pair: a fresh `code_verifier` and its `S256` challenge.
pub fn pkce() -> (String, String) {
    use tessera_token::crypto::{b64url, random_bytes, sha256};
    let verifier = b64url(random_bytes::<32>());
    let challenge = b64url(sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// The header and claims of a compact JWS, decoded without verifying.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let decode = |part: &str| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url part");
        serde_json::from_slice(&bytes).expect("JSON part")
    };
    let mut parts = token.split('.');
    let header = decode(parts.next().expect("header"));
    let claims = decode(parts.next().expect("claims"));
    (header, claims)
}

/// Asserts an RFC 6749 §5.2 error: status, `error` code, a description, and
/// `Cache-Control: no-store`; returns the body.
pub async fn assert_oauth_error(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status, "status");
    assert_eq!(
        r.headers()["cache-control"],
        "no-store",
        "no-store on errors"
    );
    let body: Value = r.json().await.expect("OAuth error body is JSON");
    assert_eq!(body["error"], code, "error in {body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

/// The query parameters of a URL.
pub fn query_map(url: &url::Url) -> HashMap<String, String> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The `Location` of a redirect, parsed.
pub fn location(r: &Response) -> url::Url {
    let value = r
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .expect("ASCII Location");
    url::Url::parse(value).expect("an absolute Location")
}

/// The hidden fields of the first form on a page, with HTML entities undone.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + tag[start..].find('"')?;
        Some(unescape_html(&tag[start..end]))
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value")?)))
        .collect()
}

/// The hidden fields of the first form of `html` (a page may hold more than
/// one: the passkey button's form comes after the login form).
pub fn first_form_fields(html: &str) -> Vec<(String, String)> {
    let start = html.find("<form").unwrap_or(0);
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |e| start + e);
    hidden_fields(&html[start..end])
}

/// Undoes HTML escaping: the named entities and numeric ones (`&#60;`, `&#x3c;`).
pub fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "quot" => Some('"'),
            "apos" => Some('\''),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl TestApp {
    /// Registers an OAuth client as `admin_token`'s admin; asserts 201.
    pub async fn create_client(&self, admin_token: &str, registration: Value) -> OAuthApp {
        let r = self
            .post("/admin/clients", Some(admin_token), registration.clone())
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "register {registration}");
        let body = json_body(r).await;
        OAuthApp {
            id: body["client"]["client_id"]
                .as_str()
                .expect("client_id")
                .into(),
            secret: body["client_secret"].as_str().map(Into::into),
            body,
        }
    }

    /// POSTs a form, with HTTP Basic client credentials if given.
    pub async fn post_form(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        fields: &[(&str, &str)],
    ) -> Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields));
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        req.send().await.expect("request")
    }

    /// `POST /oauth/token`.
    pub async fn token(&self, basic: Option<(&str, &str)>, fields: &[(&str, &str)]) -> Response {
        self.post_form("/oauth/token", basic, fields).await
    }

    /// `POST /oauth/token` that must succeed (200, `no-store`); the answer.
    pub async fn token_ok(&self, basic: Option<(&str, &str)>, fields: &[(&str, &str)]) -> Value {
        let r = self.token(basic, fields).await;
        let status = r.status();
        let cache = r.headers().get("cache-control").cloned();
        let body = json_body(r).await;
        assert_eq!(status, StatusCode::OK, "token request {fields:?}: {body}");
        assert_eq!(cache.expect("cache-control"), "no-store");
        body
    }

    /// The JWK Set.
    pub async fn jwks(&self) -> Value {
        json_body(self.get("/.well-known/jwks.json", None).await).await
    }
}

/// A browser: keeps cookies, never follows redirects.
pub struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("browser client"),
            cookies: HashMap::new(),
        }
    }

    /// The app it talks to.
    pub fn app(&self) -> &'a TestApp {
        self.app
    }

    /// The value of a cookie the browser holds.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Sets (or, with `None`, drops) a cookie by hand.
    pub fn set_cookie(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(v) => self.cookies.insert(name.into(), v.into()),
            None => self.cookies.remove(name),
        };
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps what the answer's `Set-Cookie` headers say (`Max-Age=0` deletes).
    fn remember(&mut self, r: &Response) {
        for value in r.headers().get_all("set-cookie") {
            let text = value.to_str().expect("ASCII Set-Cookie");
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().into(), value.into());
            }
        }
    }

    /// GET `path_and_query` with the browser's cookies.
    pub async fn get(&mut self, path_and_query: &str) -> Response {
        let r = self
            .client
            .get(self.app.url(path_and_query))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("request");
        self.remember(&r);
        r
    }

    /// POSTs a form with the browser's cookies.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let r = self
            .client
            .post(self.app.url(path))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields))
            .send()
            .await
            .expect("request");
        self.remember(&r);
        r
    }

    /// Fills in and submits the login page `page` showed: its hidden fields
    /// plus `username` and `password`.
    pub async fn submit_login(&mut self, page: &str, username: &str, password: &str) -> Response {
        let mut fields = first_form_fields(page);
        fields.push(("username".into(), username.into()));
        fields.push(("password".into(), password.into()));
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.post_form("/authorize", &fields).await
    }
}

/// An authorization request of the code flow with PKCE, and what the token
/// request must repeat.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub challenge: String,
}

impl CodeRequest {
    /// A request for `client` with a fresh state, nonce and PKCE pair.
    pub fn new(client: &OAuthApp) -> Self {
        let (verifier, challenge) = pkce();
        CodeRequest {
            client_id: client.id.clone(),
            redirect_uri: REDIRECT_URI.into(),
            scope: "openid profile email".into(),
            state: format!("state-{}", uuid::Uuid::new_v4().simple()),
            nonce: format!("nonce-{}", uuid::Uuid::new_v4().simple()),
            verifier,
            challenge,
        }
    }

    /// Its parameters, with `extra` appended.
    pub fn params<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", self.scope.as_str()),
            ("state", self.state.as_str()),
            ("nonce", self.nonce.as_str()),
            ("code_challenge", self.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        params
    }

    /// `/authorize?…` for this request, with `extra` parameters.
    pub fn path(&self, extra: &[(&str, &str)]) -> String {
        format!("/authorize?{}", form(&self.params(extra)))
    }

    /// The token request redeeming `code` (a public client: `client_id` in the body).
    pub fn redeem<'a>(&'a self, code: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", self.verifier.as_str()),
            ("client_id", self.client_id.as_str()),
        ]
    }
}

/// The code of a successful authorization redirect, after checking that it
/// goes to the request's redirect URI with its `state` and the issuer.
pub fn code_from(app: &TestApp, r: &Response, request: &CodeRequest) -> String {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "a redirect back");
    let url = location(r);
    assert!(
        url.as_str().starts_with(&request.redirect_uri),
        "to the redirect URI: {url}"
    );
    let params = query_map(&url);
    assert_eq!(params.get("state"), Some(&request.state), "state: {url}");
    assert_eq!(params.get("iss"), Some(&app.base), "iss: {url}");
    assert!(!params.contains_key("error"), "no error: {url}");
    params.get("code").expect("a code").clone()
}

/// Signs `username` in at the hosted login page for `request`: the login
/// page, the form submitted, and the code it redirects back with.
pub async fn sign_in_for_code(
    browser: &mut Browser<'_>,
    request: &CodeRequest,
    username: &str,
) -> String {
    let page = browser.get(&request.path(&[])).await;
    assert_eq!(page.status(), StatusCode::OK, "the login page");
    let html = page.text().await.expect("html");
    let r = browser.submit_login(&html, username, PASSWORD).await;
    code_from(browser.app, &r, request)
}

/// The whole code flow for `username` through `browser` and a public
/// client: tokens as the token endpoint answers them.
pub async fn code_flow(browser: &mut Browser<'_>, client: &OAuthApp, username: &str) -> Value {
    let request = CodeRequest::new(client);
    let code = sign_in_for_code(browser, &request, username).await;
    browser.app.token_ok(None, &request.redeem(&code)).await
}

// ------------------------------------------------------------ /events

/// A WebSocket to `/events`.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Subscribes to `/events` with a bearer token on the upgrade request.
pub async fn subscribe(app: &TestApp, token: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = format!("ws://{}/events", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade")
        .0
}

/// The next event (skipping pings and control messages).
pub async fn next_event(ws: &mut Socket) -> Value {
    use futures::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v.get("seq").is_some() {
                return v;
            }
        }
    }
}
