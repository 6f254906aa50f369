//! Where the event stream gets the access token it subscribes with: a
//! [`TokenProvider`]. Tessera shows a subscriber every event only if its
//! token is an OAuth client's own token with the scope `events:read`
//! ([`ClientCredentials`], the recommended choice) or carries the `admin`
//! role ([`PasswordLogin`]); any other token sees only events about its own
//! user, which is of no use to a relying service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A boxed error from a token provider.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Gives the event stream an access token to authenticate with.
///
/// [`token`](TokenProvider::token) is called to connect, again shortly
/// before the token in use expires, and after Tessera refused the last one
/// (having first called [`refused`](TokenProvider::refused)). A closure
/// `|| async { Ok::<_, BoxError>(token) }` is a provider.
pub trait TokenProvider: Send + Sync + 'static {
    /// A current access token.
    fn token(&self) -> BoxFuture<'_, Result<String, BoxError>>;

    /// Tessera refused the token last given (closed the stream with 4401,
    /// 4001 or 4403): the next [`token`](TokenProvider::token) must not
    /// return it again. Does nothing unless overridden.
    fn refused(&self) {}
}

impl<F, Fut> TokenProvider for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, BoxError>> + Send + 'static,
{
    fn token(&self) -> BoxFuture<'_, Result<String, BoxError>> {
        Box::pin(self())
    }
}

/// Always the same token: for tests and short-lived tools (a token expires,
/// and then the stream cannot reconnect).
#[derive(Clone)]
pub struct StaticToken(pub String);

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, Result<String, BoxError>> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}

/// Renew a token when less than this is left of it.
const RENEW_BEFORE: Duration = Duration::from_secs(120);

/// Tokens of a service account that logs in to Tessera with a username and
/// password (`POST /auth/login`) and keeps its session going with the
/// refresh token (`POST /auth/refresh`), logging in again if that fails.
///
/// The account needs the `admin` role to see every user's events. Keep its
/// password out of the code (an environment variable or a secret store).
pub struct PasswordLogin {
    base_url: String,
    username: String,
    password: String,
    http: reqwest::Client,
    session: Mutex<Option<Held>>,
}

/// The tokens held.
struct Held {
    access: String,
    refresh: String,
    /// When to stop handing out `access`.
    renew_at: Instant,
}

impl std::fmt::Debug for PasswordLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordLogin")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl PasswordLogin {
    /// A provider logging in as `username` at the Tessera at `base_url`.
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        PasswordLogin {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            username: username.into(),
            password: password.into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
            session: Mutex::new(None),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks Tessera for tokens: a refresh if a refresh token is held, else
    /// (or if that fails) a login.
    async fn obtain(&self) -> Result<String, BoxError> {
        let refresh = self.held().as_ref().map(|h| h.refresh.clone());
        if let Some(refresh) = refresh {
            let body = serde_json::json!({"refresh_token": refresh});
            match self.post("/auth/refresh", &body).await {
                Ok(token) => return Ok(token),
                Err(e) => {
                    tracing::info!(error = %e, "refreshing the event-stream session failed; logging in")
                }
            }
        }
        let body = serde_json::json!({"username": self.username, "password": self.password});
        self.post("/auth/login", &body).await
    }

    async fn post(&self, path: &str, body: &serde_json::Value) -> Result<String, BoxError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("POST {path} answered {status}").into());
        }
        let answer: serde_json::Value = response.json().await?;
        let field = |name: &str| answer.get(name).and_then(serde_json::Value::as_str);
        let (Some(access), Some(refresh)) = (field("access_token"), field("refresh_token")) else {
            return Err(format!("POST {path} answered without tokens").into());
        };
        let lifetime = answer
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .map_or(Duration::ZERO, Duration::from_secs);
        let held = Held {
            access: access.to_owned(),
            refresh: refresh.to_owned(),
            renew_at: Instant::now() + lifetime.saturating_sub(RENEW_BEFORE).max(lifetime / 2),
        };
        *self.held() = Some(held);
        Ok(access.to_owned())
    }
}

impl TokenProvider for PasswordLogin {
    fn token(&self) -> BoxFuture<'_, Result<String, BoxError>> {
        Box::pin(async move {
            let current = self
                .held()
                .as_ref()
                .filter(|h| Instant::now() < h.renew_at)
                .map(|h| h.access.clone());
            match current {
                Some(access) => Ok(access),
                None => self.obtain().await,
            }
        })
    }

    fn refused(&self) {
        // Keep the refresh token (the session may still be live), drop the
        // access token so the next call obtains a new one.
        if let Some(held) = self.held().as_mut() {
            held.renew_at = Instant::now();
        }
    }
}

/// Tokens of a confidential OAuth client registered with the
/// `client_credentials` grant and the scope `events:read`, from Tessera's
/// `POST /oauth/token` (authenticating with HTTP Basic). This is the way to
/// follow every user's events without an admin account: whoever holds the
/// secret can read the stream and nothing more, and deleting the client cuts
/// it off. Keep the secret out of the code.
pub struct ClientCredentials {
    base_url: String,
    client_id: String,
    secret: String,
    http: reqwest::Client,
    held: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// A provider for client `client_id` with `secret` at the Tessera at `base_url`.
    pub fn new(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        ClientCredentials {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            client_id: client_id.into(),
            secret: secret.into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
            held: Mutex::new(None),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<(String, Instant)>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn obtain(&self) -> Result<String, BoxError> {
        // RFC 6749 §2.3.1: both parts form-encoded before Basic encoding.
        let encode = |s: &str| -> String { url_encode(s) };
        let response = self
            .http
            .post(format!("{}/oauth/token", self.base_url))
            .basic_auth(encode(&self.client_id), Some(encode(&self.secret)))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("grant_type=client_credentials&scope=events%3Aread")
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("POST /oauth/token answered {status}").into());
        }
        let answer: serde_json::Value = response.json().await?;
        let access = answer
            .get("access_token")
            .and_then(serde_json::Value::as_str)
            .ok_or("POST /oauth/token answered without an access token")?
            .to_owned();
        let lifetime = answer
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .map_or(Duration::ZERO, Duration::from_secs);
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE).max(lifetime / 2);
        *self.held() = Some((access.clone(), renew_at));
        Ok(access)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl TokenProvider for ClientCredentials {
    fn token(&self) -> BoxFuture<'_, Result<String, BoxError>> {
        Box::pin(async move {
            let current = self
                .held()
                .as_ref()
                .filter(|(_, renew_at)| Instant::now() < *renew_at)
                .map(|(access, _)| access.clone());
            match current {
                Some(access) => Ok(access),
                None => self.obtain().await,
            }
        })
    }

    fn refused(&self) {
        *self.held() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closures_and_static_tokens_are_providers() {
        let from_closure = || async { Ok::<_, BoxError>("t1".to_owned()) };
        assert_eq!(from_closure.token().await.unwrap(), "t1");
        let fixed = StaticToken("t2".into());
        assert_eq!(fixed.token().await.unwrap(), "t2");
        assert_eq!(format!("{fixed:?}"), "StaticToken(<redacted>)");
    }

    #[test]
    fn client_credentials_never_show_the_secret_and_encode_it() {
        let p = ClientCredentials::new("http://id.test/", "svc", "s3cret:+/");
        let shown = format!("{p:?}");
        assert!(shown.contains("svc") && !shown.contains("s3cret"));
        assert_eq!(url_encode("s3cret:+/"), "s3cret%3A%2B%2F");
    }

    #[test]
    fn a_password_login_never_shows_its_password() {
        let p = PasswordLogin::new("http://id.test/", "svc", "hunter2-hunter2");
        let shown = format!("{p:?}");
        assert!(shown.contains("svc") && !shown.contains("hunter2"));
        assert_eq!(p.base_url, "http://id.test");
    }
}
