//! [`Verifier`]: verifies Tessera access tokens with the cached JWKS and the
//! local revocation set, under exactly the server's rules (SPEC §5), and
//! refuses everything when configured to fail closed and the event stream
//! has been down too long.

use crate::backoff::Backoff;
use crate::jwks::{CachePolicy, Jwks};
use crate::messages::Retention;
use crate::provider::TokenProvider;
use crate::stream::{StreamState, Subscriber};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tessera_token::clock::{Clock, Millis, SystemClock};
use tessera_token::revocation::RevocationSet;
use tessera_token::tokens::{AccessClaims, TokenError, VerifyPolicy, verify_access_token};
use tokio::sync::watch;

/// How often expired revocations are forgotten.
const PURGE_EVERY: Millis = 60_000;

/// The claims of a verified access token.
pub type Claims = AccessClaims;

/// Why [`Verifier::verify`] refused a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token itself is not acceptable: malformed, signed by no known
    /// key, expired, for another issuer or audience, or revoked. Answer
    /// 401 `invalid_token`; the variant is for logs, not for the client.
    #[error("invalid token: {0}")]
    Invalid(#[from] TokenError),
    /// Tessera's keys were never fetched successfully, so nothing can be
    /// verified yet. A problem on the verifier's side (503), not the
    /// client's.
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
    /// Fail-closed is on and the event stream has been down longer than
    /// allowed, so revocations may be missed: every token is refused (503).
    #[error("revocation stream down for {0:?}; refusing every token")]
    StreamDown(Duration),
}

/// Why [`VerifierBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A URL is not `http(s)://…` (JWKS) or `ws(s)://…` (events).
    #[error("invalid URL {0:?}")]
    InvalidUrl(String),
    /// [`VerifierBuilder::fail_closed_after`] needs the event stream.
    #[error("fail_closed_after needs the event stream (VerifierBuilder::events)")]
    FailClosedWithoutEvents,
    /// The event stream needs a Tokio runtime to run in.
    #[error("the event stream must be started inside a Tokio runtime")]
    NoRuntime,
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Configures a [`Verifier`]; from [`Verifier::builder`].
pub struct VerifierBuilder {
    issuer: String,
    audience: Option<String>,
    leeway: Duration,
    jwks_url: Option<String>,
    jwks_refetch_interval: Duration,
    jwks_default_max_age: Duration,
    events_url: Option<String>,
    provider: Option<Arc<dyn TokenProvider>>,
    fail_closed_after: Option<Duration>,
    backoff_min: Duration,
    backoff_max: Duration,
    max_token_lifetime: Duration,
    clock: Arc<dyn Clock>,
    http: Option<reqwest::Client>,
}

impl std::fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("events", &self.provider.is_some())
            .field("fail_closed_after", &self.fail_closed_after)
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// The `aud` tokens must carry. Default: the issuer (Tessera's default
    /// `TESSERA_AUDIENCE`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Clock-skew tolerance for `exp`, `nbf` and `iat`. Default: 60 s, as
    /// Tessera's `TESSERA_LEEWAY`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Where to fetch the keys. Default: `<issuer>/.well-known/jwks.json`.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// The least time between two JWKS fetches caused by tokens naming an
    /// unknown key id, or between retries after a failed fetch. Default: 5 s.
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_interval = interval;
        self
    }

    /// How long keys are kept when the JWKS answer has no `Cache-Control`
    /// `max-age`. Default: 5 minutes.
    pub fn jwks_default_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_default_max_age = max_age;
        self
    }

    /// Subscribes to Tessera's `/events` stream with tokens from
    /// `provider`, so revocations (logouts, revoked sessions and tokens,
    /// deleted or disabled users, role changes) take effect at once instead
    /// of at token expiry. Without it only signatures and claims are checked.
    /// The provider's tokens need the `admin` role to see every user's events.
    pub fn events(mut self, provider: impl TokenProvider) -> Self {
        self.provider = Some(Arc::new(provider));
        self
    }

    /// Where the event stream is. Default: the issuer with `ws(s)://` and
    /// `/events`.
    pub fn events_url(mut self, url: impl Into<String>) -> Self {
        self.events_url = Some(url.into());
        self
    }

    /// Refuse every token ([`VerifyError::StreamDown`]) once the event
    /// stream has been down for longer than `after` — revocations might be
    /// missed. The count starts when the verifier is built. Default: off
    /// (tokens keep verifying on signature and claims alone).
    pub fn fail_closed_after(mut self, after: Duration) -> Self {
        self.fail_closed_after = Some(after);
        self
    }

    /// Reconnection backoff bounds. Default: 500 ms growing to 30 s.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max;
        self
    }

    /// How long a per-user cut-off from the stream is remembered: at least
    /// Tessera's access-token lifetime plus leeway. Default: 24 hours.
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    /// The clock verification reads (tests move it instead of sleeping).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The HTTP client for the JWKS. Default: one with a 10 s timeout.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the verifier and, with [`events`](Self::events), starts the
    /// stream's background task (which stops when the last clone of the
    /// verifier is dropped). Nothing is fetched yet: the first
    /// [`Verifier::verify`] or [`Verifier::ready`] fetches the keys.
    pub fn build(self) -> Result<Verifier, BuildError> {
        let issuer = self.issuer.trim_end_matches('/').to_owned();
        let jwks_url = self
            .jwks_url
            .unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
        check_url(&jwks_url, &["http", "https"])?;
        let events_url = match &self.events_url {
            Some(url) => url.clone(),
            None => ws_url(&issuer)?,
        };
        if self.provider.is_some() {
            check_url(&events_url, &["ws", "wss"])?;
        }
        if self.fail_closed_after.is_some() && self.provider.is_none() {
            return Err(BuildError::FailClosedWithoutEvents);
        }
        let http = match self.http {
            Some(c) => c,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .user_agent(concat!("tessera-verify/", env!("CARGO_PKG_VERSION")))
                .build()?,
        };
        let policy = VerifyPolicy {
            audience: self.audience.unwrap_or_else(|| issuer.clone()),
            issuer,
            leeway_secs: i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX),
            // Only a key ring uses it; a JWK Set lists exactly the keys that verify.
            token_lifetime_ms: 0,
        };
        let jwks = Arc::new(Jwks::new(
            jwks_url,
            http,
            self.clock.clone(),
            CachePolicy {
                refetch_interval_ms: millis(self.jwks_refetch_interval),
                default_ttl_ms: millis(self.jwks_default_max_age),
            },
        ));
        let revocations = Arc::new(RevocationSet::new());
        let stream = match self.provider {
            None => None,
            Some(provider) => {
                let runtime =
                    tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
                let (state, watcher) = watch::channel(StreamState {
                    connected: false,
                    down_since: Some(self.clock.now_ms()),
                    last_seq: None,
                    revocations_applied: 0,
                    replays_truncated: 0,
                });
                let subscriber = Subscriber {
                    url: events_url,
                    provider,
                    clock: self.clock.clone(),
                    jwks: jwks.clone(),
                    revocations: revocations.clone(),
                    retention: Retention {
                        leeway_ms: millis(self.leeway),
                        horizon_ms: millis(self.max_token_lifetime),
                    },
                    backoff: Backoff::new(self.backoff_min, self.backoff_max),
                    state,
                };
                let task = runtime.spawn(subscriber.run()).abort_handle();
                Some(Stream {
                    state: watcher,
                    fail_closed_after: self.fail_closed_after,
                    task,
                })
            }
        };
        Ok(Verifier {
            inner: Arc::new(Inner {
                policy,
                clock: self.clock,
                jwks,
                revocations,
                stream,
                last_purge: AtomicI64::new(0),
            }),
        })
    }
}

/// Verifies Tessera access tokens. Cheap to clone; clones share the key
/// cache, the revocation set and the event stream.
#[derive(Clone, Debug)]
pub struct Verifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    policy: VerifyPolicy,
    clock: Arc<dyn Clock>,
    jwks: Arc<Jwks>,
    revocations: Arc<RevocationSet>,
    stream: Option<Stream>,
    /// When expired revocations were last forgotten.
    last_purge: AtomicI64,
}

/// The event stream's task and what it reports.
#[derive(Debug)]
struct Stream {
    state: watch::Receiver<StreamState>,
    fail_closed_after: Option<Duration>,
    task: tokio::task::AbortHandle,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Verifier {
    /// Starts configuring a verifier for tokens issued by `issuer` — the
    /// `iss` Tessera puts in its tokens (`TESSERA_ISSUER`), which is also
    /// where its keys and events are found unless configured otherwise.
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.into(),
            audience: None,
            leeway: Duration::from_secs(60),
            jwks_url: None,
            jwks_refetch_interval: Duration::from_secs(5),
            jwks_default_max_age: Duration::from_secs(300),
            events_url: None,
            provider: None,
            fail_closed_after: None,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_token_lifetime: Duration::from_secs(24 * 3600),
            clock: Arc::new(SystemClock),
            http: None,
        }
    }

    /// Verifies an access token (without the `Bearer ` prefix) under every
    /// rule of SPEC §5 — the same function Tessera itself runs — with
    /// Tessera's published keys and the revocations learnt from the event
    /// stream. Fetches the keys first when they are stale, and once more
    /// (at most once per refetch interval) when the token names a key id
    /// they lack.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let inner = &self.inner;
        let now = inner.clock.now_ms();
        self.check_stream(now)?;
        self.purge(now);
        let keys = inner
            .jwks
            .keys()
            .await
            .map_err(VerifyError::KeysUnavailable)?;
        let verify = |keys: &tessera_token::keys::JwkSet| {
            verify_access_token(token, keys, &inner.revocations, &inner.policy, now)
        };
        match verify(&keys) {
            Err(TokenError::UnknownKey) if inner.jwks.refetch_for_unknown_kid().await => {
                let keys = inner
                    .jwks
                    .keys()
                    .await
                    .map_err(VerifyError::KeysUnavailable)?;
                Ok(verify(&keys)?)
            }
            result => Ok(result?),
        }
    }

    /// Fetches the keys if they are not loaded yet and, with the event
    /// stream, waits until it has connected and caught up. Call it before
    /// serving, under a timeout of your choice.
    pub async fn ready(&self) -> Result<(), VerifyError> {
        self.inner
            .jwks
            .keys()
            .await
            .map_err(VerifyError::KeysUnavailable)?;
        if let Some(stream) = &self.inner.stream {
            let mut state = stream.state.clone();
            // Only fails if the task is gone, which `Drop` alone does.
            let _ = state.wait_for(|s| s.connected).await;
        }
        Ok(())
    }

    /// The event stream's state; `None` without [`VerifierBuilder::events`].
    pub fn stream_state(&self) -> Option<StreamState> {
        self.inner.stream.as_ref().map(|s| s.state.borrow().clone())
    }

    /// Follows the event stream's state as it changes (for health checks,
    /// metrics and tests); `None` without [`VerifierBuilder::events`].
    pub fn watch_stream(&self) -> Option<watch::Receiver<StreamState>> {
        self.inner.stream.as_ref().map(|s| s.state.clone())
    }

    /// How many JWKS fetches have started since the verifier was built.
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.jwks.fetches()
    }

    /// Refuses everything when fail-closed is on and the stream has been
    /// down too long.
    fn check_stream(&self, now: Millis) -> Result<(), VerifyError> {
        let Some(stream) = &self.inner.stream else {
            return Ok(());
        };
        let Some(limit) = stream.fail_closed_after else {
            return Ok(());
        };
        let down_since = stream.state.borrow().down_since;
        if let Some(since) = down_since {
            let down = Duration::from_millis(u64::try_from(now.saturating_sub(since)).unwrap_or(0));
            if down > limit {
                return Err(VerifyError::StreamDown(down));
            }
        }
        Ok(())
    }

    /// Forgets expired revocations now and then.
    fn purge(&self, now: Millis) {
        let last = self.inner.last_purge.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= PURGE_EVERY
            && self
                .inner
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.inner.revocations.purge(now);
        }
    }
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// Refuses a URL whose scheme is not one of `schemes` or that does not parse.
fn check_url(url: &str, schemes: &[&str]) -> Result<(), BuildError> {
    match reqwest::Url::parse(url) {
        Ok(u) if schemes.contains(&u.scheme()) && u.has_host() => Ok(()),
        _ => Err(BuildError::InvalidUrl(url.to_owned())),
    }
}

/// `http(s)://host/path` → `ws(s)://host/path/events`.
fn ws_url(issuer: &str) -> Result<String, BuildError> {
    let rest = |prefix: &str| issuer.strip_prefix(prefix);
    match (rest("https://"), rest("http://")) {
        (Some(r), _) => Ok(format!("wss://{r}/events")),
        (None, Some(r)) => Ok(format!("ws://{r}/events")),
        _ => Err(BuildError::InvalidUrl(issuer.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_token::clock::ManualClock;

    #[test]
    fn urls_derive_from_the_issuer() {
        assert_eq!(
            ws_url("https://id.example.com/tessera").unwrap(),
            "wss://id.example.com/tessera/events"
        );
        assert_eq!(
            ws_url("http://127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:8080/events"
        );
        assert!(ws_url("ftp://x").is_err());
    }

    #[test]
    fn a_bad_issuer_or_fail_closed_without_events_is_refused() {
        assert!(matches!(
            Verifier::builder("not a url").build(),
            Err(BuildError::InvalidUrl(_))
        ));
        assert!(matches!(
            Verifier::builder("https://id.test")
                .fail_closed_after(Duration::from_secs(5))
                .build(),
            Err(BuildError::FailClosedWithoutEvents)
        ));
        assert!(matches!(
            Verifier::builder("https://id.test")
                .events(crate::StaticToken("t".into()))
                .build(),
            Err(BuildError::NoRuntime)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn fail_closed_counts_from_when_the_stream_went_down() {
        let clock = ManualClock::new(1_000_000);
        let verifier = Verifier::builder("http://127.0.0.1:9")
            .events(crate::StaticToken("t".into()))
            .fail_closed_after(Duration::from_secs(10))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        assert_eq!(verifier.check_stream(clock.now_ms()), Ok(()));
        clock.advance(Duration::from_secs(10));
        assert_eq!(verifier.check_stream(clock.now_ms()), Ok(()));
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            verifier.check_stream(clock.now_ms()),
            Err(VerifyError::StreamDown(Duration::from_secs(11)))
        );
    }
}
