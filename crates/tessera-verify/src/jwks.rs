//! Tessera's published keys (`/.well-known/jwks.json`): fetched once, kept
//! for as long as `Cache-Control: max-age` allows, and fetched again early
//! only when a token names a key id the cache does not know — at most once
//! per refetch interval, so tokens with made-up key ids cannot make the
//! verifier hammer Tessera.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tessera_token::clock::{Clock, Millis};
use tessera_token::keys::{JwkSet, PublicJwk};

/// The largest JWK Set read; Tessera's holds a handful of keys.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// The longest the keys are kept without asking again, whatever `max-age` says.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// The cache's timing rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CachePolicy {
    /// Minimum time between two fetches (for an unknown `kid` or after a failure).
    pub(crate) refetch_interval_ms: Millis,
    /// Freshness when the answer has no `Cache-Control` `max-age`.
    pub(crate) default_ttl_ms: Millis,
}

/// What the cache holds and when it last asked. Pure bookkeeping; the
/// fetching is [`Jwks`]'s.
#[derive(Debug, Clone, Default)]
pub(crate) struct CacheState {
    /// The keys of the last successful fetch, each parsed once.
    keys: Arc<JwkSet>,
    /// Whether a fetch ever succeeded.
    loaded: bool,
    /// Until when the keys are fresh.
    fresh_until: Millis,
    /// When the last fetch started, whatever became of it.
    last_attempt: Option<Millis>,
}

impl CacheState {
    /// Whether a fetch may start now at all: never sooner than the refetch
    /// interval after the previous one.
    fn may_fetch(&self, now: Millis, policy: &CachePolicy) -> bool {
        self.last_attempt
            .is_none_or(|t| now.saturating_sub(t) >= policy.refetch_interval_ms)
    }

    /// Whether the keys should be fetched before verifying: never fetched,
    /// or no longer fresh (and the refetch interval allows it).
    pub(crate) fn is_due(&self, now: Millis, policy: &CachePolicy) -> bool {
        (!self.loaded || now >= self.fresh_until) && self.may_fetch(now, policy)
    }

    /// Whether a token naming a key id not in the cache may trigger a fetch.
    pub(crate) fn may_fetch_for_unknown_kid(&self, now: Millis, policy: &CachePolicy) -> bool {
        self.may_fetch(now, policy)
    }

    /// Whether a key with this id is held.
    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.has_kid(kid)
    }

    /// Notes that a fetch starts at `now`.
    pub(crate) fn record_attempt(&mut self, now: Millis) {
        self.last_attempt = Some(now);
    }

    /// Takes the keys of a successful fetch, fresh for `ttl_ms`.
    pub(crate) fn record_success(&mut self, now: Millis, keys: Vec<PublicJwk>, ttl_ms: Millis) {
        self.keys = Arc::new(JwkSet::new(&keys));
        self.loaded = true;
        self.fresh_until = now.saturating_add(ttl_ms);
    }
}

/// How long an answer may be cached, from its `Cache-Control` header:
/// `max-age=N` gives N seconds; `no-store` and `no-cache` give zero (asked
/// again as often as the refetch interval allows); none of these gives
/// `None`. Capped at a day.
pub(crate) fn cache_ttl(cache_control: Option<&str>) -> Option<Duration> {
    let header = cache_control?;
    let mut max_age = None;
    for directive in header.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if name.eq_ignore_ascii_case("max-age") && max_age.is_none() {
            max_age = value.trim().trim_matches('"').parse::<u64>().ok();
        }
    }
    max_age.map(|secs| Duration::from_secs(secs).min(MAX_TTL))
}

/// Why the keys could not be fetched (logged, and reported by
/// [`crate::VerifyError::KeysUnavailable`] while no keys were ever loaded).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// Tessera could not be reached or did not answer in time.
    #[error("request failed: {0}")]
    Request(#[from] reqwest::Error),
    /// Tessera answered with an error status.
    #[error("answered {0}")]
    Status(reqwest::StatusCode),
    /// The answer is larger than a JWK Set can reasonably be.
    #[error("answer larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// The answer is not a JWK Set.
    #[error("not a JWK Set")]
    Malformed,
}

/// The JWKS cache of one verifier.
#[derive(Debug)]
pub(crate) struct Jwks {
    /// `<issuer>/.well-known/jwks.json` unless configured otherwise.
    url: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    policy: CachePolicy,
    state: RwLock<CacheState>,
    /// One fetch at a time; those who wait find its result.
    fetching: tokio::sync::Mutex<()>,
    /// Fetches started, for observability and tests.
    fetches: AtomicU64,
}

impl Jwks {
    pub(crate) fn new(
        url: String,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        policy: CachePolicy,
    ) -> Self {
        Jwks {
            url,
            http,
            clock,
            policy,
            state: RwLock::new(CacheState::default()),
            fetching: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    fn state(&self) -> CacheState {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many fetches have started.
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The keys to verify with, fetched first if they are due. `None` while
    /// no fetch has ever succeeded. A failed refresh keeps the previous keys:
    /// public keys do not become dangerous by being old.
    pub(crate) async fn keys(&self) -> Result<Arc<JwkSet>, String> {
        let now = self.clock.now_ms();
        if self.state().is_due(now, &self.policy) {
            self.fetch_if(|s, now| s.is_due(now, &self.policy)).await;
        }
        let state = self.state();
        if state.loaded {
            Ok(state.keys)
        } else {
            Err(format!("could not fetch {}", self.url))
        }
    }

    /// A token named a key id that the keys lack: fetch again if the
    /// refetch interval allows. Whether a fetch succeeded.
    pub(crate) async fn refetch_for_unknown_kid(&self) -> bool {
        let now = self.clock.now_ms();
        if !self.state().may_fetch_for_unknown_kid(now, &self.policy) {
            return false;
        }
        self.fetch_if(|s, now| s.may_fetch_for_unknown_kid(now, &self.policy))
            .await
    }

    /// Tessera announced a new key (`key.rotated`): fetch it unless it is
    /// already held. The announcement comes over the authenticated event
    /// stream, so it is not held to the refetch interval.
    pub(crate) async fn learn_kid(&self, kid: &str) -> bool {
        if self.state().has_kid(kid) {
            return false;
        }
        self.fetch_if(|s, _| !s.has_kid(kid)).await
    }

    /// Fetches under the single-flight lock if `needed` still holds once
    /// the lock is held (another task may have just fetched).
    async fn fetch_if(&self, needed: impl Fn(&CacheState, Millis) -> bool) -> bool {
        let _one_at_a_time = self.fetching.lock().await;
        let now = self.clock.now_ms();
        {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            if !needed(&state, now) {
                return false;
            }
            state.record_attempt(now);
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match self.fetch().await {
            Ok((keys, ttl)) => {
                let ttl = ttl.unwrap_or(Duration::from_millis(
                    u64::try_from(self.policy.default_ttl_ms).unwrap_or(0),
                ));
                let ttl_ms = Millis::try_from(ttl.as_millis()).unwrap_or(Millis::MAX);
                tracing::debug!(url = %self.url, keys = keys.len(), ttl_ms, "fetched the JWKS");
                self.state
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .record_success(self.clock.now_ms(), keys, ttl_ms);
                true
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "fetching the JWKS failed");
                false
            }
        }
    }

    /// One GET of the JWK Set: its keys and how long to cache them.
    async fn fetch(&self) -> Result<(Vec<PublicJwk>, Option<Duration>), FetchError> {
        let mut response = self.http.get(&self.url).send().await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let ttl = cache_ttl(
            response
                .headers()
                .get(http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
        );
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((parse_jwks(&body)?, ttl))
    }
}

/// The keys of a JWK Set. A member that is not a well-formed JWK is
/// skipped, so one odd key cannot hide the others; whether a key is sound
/// is decided when the set is made, by `PublicJwk::parsed_key`.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<PublicJwk>, FetchError> {
    let set: serde_json::Value = serde_json::from_slice(body).map_err(|_| FetchError::Malformed)?;
    let members = set
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or(FetchError::Malformed)?;
    Ok(members
        .iter()
        .filter_map(|k| serde_json::from_value::<PublicJwk>(k.clone()).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: CachePolicy = CachePolicy {
        refetch_interval_ms: 5_000,
        default_ttl_ms: 300_000,
    };

    fn jwk(kid: &str) -> PublicJwk {
        PublicJwk {
            kty: "EC".into(),
            use_: "sig".into(),
            alg: "ES256".into(),
            kid: kid.into(),
            crv: Some("P-256".into()),
            x: Some("x".into()),
            y: Some("y".into()),
            n: None,
            e: None,
        }
    }

    #[test]
    fn max_age_sets_the_lifetime() {
        assert_eq!(
            cache_ttl(Some("public, max-age=300")),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            cache_ttl(Some("Max-Age = 60 , public")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            cache_ttl(Some("max-age=\"42\"")),
            Some(Duration::from_secs(42))
        );
    }

    #[test]
    fn no_store_and_no_cache_mean_ask_again_each_time() {
        assert_eq!(cache_ttl(Some("no-store")), Some(Duration::ZERO));
        assert_eq!(
            cache_ttl(Some("max-age=300, no-cache")),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn no_usable_header_means_the_default_and_huge_ages_are_capped() {
        assert_eq!(cache_ttl(None), None);
        assert_eq!(cache_ttl(Some("public")), None);
        assert_eq!(cache_ttl(Some("max-age=soon")), None);
        assert_eq!(cache_ttl(Some("max-age=-5")), None);
        assert_eq!(cache_ttl(Some("max-age=999999999")), Some(MAX_TTL));
    }

    #[test]
    fn keys_are_due_when_never_fetched_or_stale() {
        let mut s = CacheState::default();
        assert!(s.is_due(0, &POLICY), "never fetched");
        s.record_attempt(1_000);
        s.record_success(1_000, vec![jwk("a")], 300_000);
        assert!(!s.is_due(300_999, &POLICY), "fresh");
        assert!(s.is_due(301_000, &POLICY), "stale");
    }

    #[test]
    fn a_failed_fetch_is_not_retried_before_the_interval() {
        let mut s = CacheState::default();
        s.record_attempt(1_000);
        assert!(!s.is_due(5_999, &POLICY));
        assert!(s.is_due(6_000, &POLICY));
    }

    #[test]
    fn unknown_kids_refetch_at_most_once_per_interval() {
        let mut s = CacheState::default();
        s.record_attempt(10_000);
        s.record_success(10_000, vec![jwk("a")], 300_000);
        assert!(!s.may_fetch_for_unknown_kid(12_000, &POLICY));
        assert!(s.may_fetch_for_unknown_kid(15_000, &POLICY));
        s.record_attempt(15_000);
        assert!(!s.may_fetch_for_unknown_kid(19_999, &POLICY));
    }

    #[test]
    fn a_zero_lifetime_is_bounded_by_the_refetch_interval() {
        let mut s = CacheState::default();
        s.record_attempt(0);
        s.record_success(0, vec![jwk("a")], 0);
        assert!(!s.is_due(4_999, &POLICY));
        assert!(s.is_due(5_000, &POLICY));
    }

    #[test]
    fn a_jwk_set_keeps_its_well_formed_members() {
        let body = serde_json::json!({"keys": [
            {"kty": "EC", "use": "sig", "alg": "ES256", "kid": "k1", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "EC", "kid": 7},
            "not a key"
        ]});
        let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "k1");
        assert!(matches!(
            parse_jwks(b"{\"nokeys\": []}"),
            Err(FetchError::Malformed)
        ));
        assert!(matches!(parse_jwks(b"[]"), Err(FetchError::Malformed)));
    }
}
