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

/// The throttle keys a password check counts against, with their thresholds.
fn keys_for(username: &str, client: &ClientInfo, threshold: u32) -> Vec<(String, u32)> {
    let mut keys = vec![(user_key(username), threshold)];
    if let Some(ip) = &client.ip {
        keys.push((ip_key(ip), threshold.saturating_mul(IP_FACTOR)));
    }
    keys
}

/// Password checks admitted past the throttle; report how they went.
#[derive(Debug)]
#[must_use = "report the outcome with `succeeded` or `failed`"]
pub(super) struct Admission {
    /// Each key with the attempt count it reached and its threshold.
    counted: Vec<(String, i64, u32)>,
}

impl Tessera {
    /// Admits a password check for `username` from `client`, or refuses it
    /// with 429 while the username or the IP is blocked.
    ///
    /// Each admitted attempt is counted *before* the password is checked, so
    /// a burst of simultaneous guesses cannot all slip through before the
    /// first failure is recorded: up to the threshold are admitted, then
    /// exactly one attempt per expired wait (the one that claims the next,
    /// doubled wait), and the rest are refused.
    pub(super) async fn admit_password_check(
        &self,
        username: &str,
        client: &ClientInfo,
    ) -> Result<Admission> {
        let now = self.now();
        let cap = ms(self.settings.lockout_max);
        // Failures older than the longest wait (at least 15 minutes) are forgiven.
        let window_start = now - cap.max(15 * 60 * 1000);
        let keys = keys_for(username, client, self.settings.login_max_failures);
        let key_refs: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        let pair = [key_refs[0], key_refs.get(1).copied().unwrap_or(key_refs[0])];
        if let Some(until) = self.store.throttle_blocked_until(pair, now).await? {
            return Err(retry_after(until, now));
        }
        let mut counted: Vec<(String, i64, u32)> = Vec::with_capacity(keys.len());
        for (key, threshold) in keys {
            let hits = self
                .store
                .throttle_failure(&key, now, window_start, &[])
                .await?;
            if hits > i64::from(threshold) {
                // Over the threshold: only the attempt that claims the next
                // wait goes on; everyone else waits for it.
                let until = now + backoff_ms(hits, threshold, cap);
                if !self.store.throttle_claim(&key, now, until).await? {
                    self.store.throttle_unhit(&key).await?;
                    for (earlier, _, _) in &counted {
                        self.store.throttle_unhit(earlier).await?;
                    }
                    let blocked = self.store.throttle_blocked_until([&key, &key], now).await?;
                    return Err(retry_after(blocked.unwrap_or(now + 1_000), now));
                }
            }
            counted.push((key, hits, threshold));
        }
        Ok(Admission { counted })
    }

    /// The password was wrong: block each key that has reached its
    /// threshold, and record `entry` (the failure's audit record).
    pub(super) async fn password_check_failed(
        &self,
        admission: Admission,
        entry: AuditEntry,
    ) -> Result<()> {
        let now = self.now();
        let cap = ms(self.settings.lockout_max);
        for (key, hits, threshold) in &admission.counted {
            if *hits == i64::from(*threshold) {
                self.store
                    .throttle_block(key, now + backoff_ms(*hits, *threshold, cap))
                    .await?;
            }
        }
        self.store.append_audit(&entry).await?;
        self.events_written();
        Ok(())
    }

    /// The password was right: forgive the username's attempts (not the
    /// IP's, so one valid account cannot launder an IP's guessing).
    pub(super) async fn password_check_succeeded(&self, admission: Admission) -> Result<()> {
        if let Some((user, _, _)) = admission.counted.first() {
            self.store.throttle_clear(user).await?;
        }
        Ok(())
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
