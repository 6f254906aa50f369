//! Abuse resistance kept in the database, so it survives restarts and is
//! shared by every replica: login throttling per username and per client IP
//! with capped exponential backoff, and a registration rate per client IP.

use super::{ClientInfo, Context, Tessera};
use crate::error::{Error, Result};
use crate::settings::ms;
use crate::store::AuditEntry;
use std::sync::Arc;
use tessera_token::clock::Millis;
use tokio::sync::Semaphore;
use uuid::Uuid;

/// How many more failures than a username's threshold an IP may make.
const IP_FACTOR: u32 = 4;

fn user_key(username: &str) -> String {
    // PostgreSQL text cannot hold U+0000, and no real username contains it.
    format!(
        "login:user:{}",
        username.to_lowercase().replace('\0', "\u{FFFD}")
    )
}

/// The key of a person's wrong second-factor codes.
fn code_key(user: Uuid) -> String {
    format!("mfa:user:{user}")
}

/// Wrong second-factor codes a person may make before waiting.
const CODE_MAX_FAILURES: u32 = 5;

fn ip_key(ip: &str) -> String {
    format!("login:ip:{ip}")
}

/// The wait after `failures` failures against a threshold of `threshold`:
/// nothing below it, then 1 s doubling per further failure, capped.
pub(super) fn backoff_ms(failures: i64, threshold: u32, cap_ms: Millis) -> Millis {
    let over = failures - i64::from(threshold);
    if over < 0 {
        return 0;
    }
    let doublings = u32::try_from(over).unwrap_or(u32::MAX).min(40);
    1_000i64.saturating_mul(1i64 << doublings).min(cap_ms)
}

fn retry_after(until: Millis, now: Millis) -> Error {
    let secs = (until - now).max(0) as u64;
    Error::TooManyAttempts {
        retry_after: secs.div_ceil(1000).max(1),
    }
}

/// The throttle keys a password check counts against, with their thresholds.
fn keys_for(username: &str, client: &ClientInfo, threshold: u32) -> Vec<(String, u32)> {
    let mut keys = vec![(user_key(username), threshold)];
    if let Some(ip) = &client.ip {
        keys.push((ip_key(ip), threshold.saturating_mul(IP_FACTOR)));
    }
    keys
}

/// A password check admitted past the throttle; report how it went.
#[derive(Debug)]
#[must_use = "report the outcome with `password_check_succeeded` or `password_check_failed`"]
pub(super) struct Admission {
    /// The keys the attempt counts against, with their thresholds.
    keys: Vec<(String, u32)>,
    /// Holds this username's turn until the outcome is recorded.
    _turn: tokio::sync::OwnedSemaphorePermit,
}

/// One password check at a time per username in this process, so a burst of
/// simultaneous guesses is checked one after another, each seeing the
/// failures recorded before it.
#[derive(Debug, Default)]
pub(super) struct Turns(std::sync::Mutex<std::collections::HashMap<String, Arc<Semaphore>>>);

impl Turns {
    fn gate(&self, key: &str) -> Arc<Semaphore> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone()
    }

    /// Forgets gates nobody is using.
    pub(super) fn tidy(&self) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, gate| Arc::strong_count(gate) > 1);
    }
}

/// Abuse resistance: login throttling per username and address, the registration rate.
#[derive(Debug, Clone, Copy)]
pub struct Throttle<'a> {
    pub(super) tessera: &'a Tessera,
}

impl std::ops::Deref for Throttle<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.tessera.ctx
    }
}

impl Throttle<'_> {
    /// Admits a password check for `username` from `client`, or refuses it
    /// with 429 while the username or the IP is blocked. Checks of one
    /// username take turns (within a process), and the block is looked at
    /// again once it is this attempt's turn, so simultaneous guesses get no
    /// further than sequential ones.
    pub(super) async fn admit_password_check(
        &self,
        username: &str,
        client: &ClientInfo,
    ) -> Result<Admission> {
        let keys = keys_for(username, client, self.settings.login_max_failures);
        self.refuse_if_blocked(&keys).await?;
        let turn = self
            .turns
            .gate(&keys[0].0)
            .acquire_owned()
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.refuse_if_blocked(&keys).await?;
        Ok(Admission { keys, _turn: turn })
    }

    async fn refuse_if_blocked(&self, keys: &[(String, u32)]) -> Result<()> {
        let now = self.now();
        let user = keys[0].0.as_str();
        let ip = keys.get(1).map_or(user, |(k, _)| k.as_str());
        match self.store.throttle_blocked_until([user, ip], now).await? {
            Some(until) => Err(retry_after(until, now)),
            None => Ok(()),
        }
    }

    /// The password was wrong: count the failure against each key (with
    /// `entry`, the failure's audit record, in the same transaction as the
    /// username's count) and block each key past its threshold.
    pub(super) async fn password_check_failed(
        &self,
        admission: Admission,
        entry: AuditEntry,
    ) -> Result<()> {
        let now = self.now();
        let cap = ms(self.settings.lockout_max);
        // Failures older than the longest wait (at least 15 minutes) are forgiven.
        let window_start = now - cap.max(15 * 60 * 1000);
        let mut audit = vec![entry];
        for (key, threshold) in &admission.keys {
            let audit = std::mem::take(&mut audit);
            let failures = self
                .store
                .throttle_failure(key, now, window_start, &audit)
                .await?;
            let wait = backoff_ms(failures, *threshold, cap);
            if wait > 0 {
                tracing::warn!(target: "tessera::security", key = ?key, failures, wait_ms = wait, "throttled: too many failed passwords");
                self.store.throttle_block(key, now + wait).await?;
            }
        }
        self.events_written();
        Ok(())
    }

    /// The password was right: forgive the username's failures (not the
    /// IP's, so one valid account cannot launder an IP's guessing).
    pub(super) async fn password_check_succeeded(&self, admission: Admission) -> Result<()> {
        if let Some((user, _)) = admission.keys.first() {
            self.store.throttle_clear(user).await?;
        }
        Ok(())
    }

    /// Admits a second-factor code for `user`, or refuses it with 429 while
    /// their wrong codes have them waiting.
    pub(super) async fn admit_code(&self, user: Uuid) -> Result<()> {
        let key = code_key(user);
        let now = self.now();
        match self.store.throttle_blocked_until([&key, &key], now).await? {
            Some(until) => Err(retry_after(until, now)),
            None => Ok(()),
        }
    }

    /// A wrong second-factor code: counted against the person (with
    /// `entry`), with section 6's doubling waits past the threshold.
    pub(super) async fn code_failed(&self, user: Uuid, entry: AuditEntry) -> Result<()> {
        let key = code_key(user);
        let now = self.now();
        let cap = ms(self.settings.lockout_max);
        // Only a completed sign-in forgives wrong codes (SPEC §11), not time
        // (the upkeep forgets a count left alone for a day).
        let failures = self
            .store
            .throttle_failure(&key, now, Millis::MIN, &[entry])
            .await?;
        let wait = backoff_ms(failures, CODE_MAX_FAILURES, cap);
        if wait > 0 {
            tracing::warn!(target: "tessera::security", key = ?key, failures, wait_ms = wait, "throttled: too many wrong codes");
            self.store.throttle_block(&key, now + wait).await?;
        }
        self.events_written();
        Ok(())
    }

    /// A completed sign-in forgives the person's wrong codes (a correct
    /// password alone does not).
    pub(super) async fn code_succeeded(&self, user: Uuid) -> Result<()> {
        Ok(self.store.throttle_clear(&code_key(user)).await?)
    }

    /// Counts a registration against the client IP's rate.
    pub(super) async fn check_registration_rate(&self, client: &ClientInfo) -> Result<()> {
        let Some(ip) = &client.ip else { return Ok(()) };
        let now = self.now();
        let rate = self.settings.registration_rate;
        let (count, window_end) = self
            .store
            .rate_limit_hit(&format!("register:ip:{ip}"), now, ms(rate.per))
            .await?;
        if count > i64::from(rate.count) {
            return Err(retry_after(window_end, now));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_the_threshold_doubles_and_is_capped() {
        let cap = 15 * 60 * 1000;
        assert_eq!(backoff_ms(4, 5, cap), 0);
        assert_eq!(backoff_ms(5, 5, cap), 1_000);
        assert_eq!(backoff_ms(6, 5, cap), 2_000);
        assert_eq!(backoff_ms(9, 5, cap), 16_000);
        assert_eq!(backoff_ms(20, 5, cap), cap);
        assert_eq!(backoff_ms(i64::MAX, 5, cap), cap);
    }
}
