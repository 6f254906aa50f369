//! Abuse resistance kept in the database, so it survives restarts and is
//! shared by every replica: login throttling per username and per client IP
//! with capped exponential backoff, and a registration rate per client IP.

use super::{ClientInfo, Tessera};
use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::settings::ms;
use crate::store::AuditEntry;

/// How many more failures than a username's threshold an IP may make.
const IP_FACTOR: u32 = 4;

fn user_key(username: &str) -> String {
    // PostgreSQL text cannot hold U+0000, and no real username contains it.
    format!(
        "login:user:{}",
        username.to_lowercase().replace('\0', "\u{FFFD}")
    )
}

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

impl Tessera {
    /// Refuses a login attempt while the username or the client IP is blocked.
    pub(super) async fn check_login_allowed(
        &self,
        username: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let now = self.now();
        let user = user_key(username);
        let ip = client
            .ip
            .as_deref()
            .map(ip_key)
            .unwrap_or_else(|| user.clone());
        match self.store.throttle_blocked_until([&user, &ip], now).await? {
            Some(until) => Err(retry_after(until, now)),
            None => Ok(()),
        }
    }

    /// Counts a failed login against the username and the client IP, and
    /// blocks whichever has passed its threshold for the backoff period.
    /// `entry` (the `login.failed` audit record) commits with the username's count.
    pub(super) async fn record_login_failure(
        &self,
        username: &str,
        client: &ClientInfo,
        entry: AuditEntry,
    ) -> Result<()> {
        let now = self.now();
        let cap = ms(self.settings.lockout_max);
        // Failures older than the longest wait (at least 15 minutes) are forgiven.
        let window_start = now - cap.max(15 * 60 * 1000);
        let threshold = self.settings.login_max_failures;
        let mut keys = vec![(user_key(username), threshold)];
        if let Some(ip) = &client.ip {
            keys.push((ip_key(ip), threshold.saturating_mul(IP_FACTOR)));
        }
        let mut audit = vec![entry];
        for (key, threshold) in keys {
            let audit = std::mem::take(&mut audit);
            let failures = self
                .store
                .throttle_failure(&key, now, window_start, &audit)
                .await?;
            let wait = backoff_ms(failures, threshold, cap);
            if wait > 0 {
                self.store.throttle_block(&key, now + wait).await?;
            }
        }
        Ok(())
    }

    /// A successful login forgives the username's failures (not the IP's, so
    /// one valid account cannot launder an IP's guessing).
    pub(super) async fn record_login_success(&self, username: &str) -> Result<()> {
        Ok(self.store.throttle_clear(&user_key(username)).await?)
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
