//! What the console's overview shows: how many people and live sessions
//! there are, and the sign-ins of the last day, hour by hour.

use super::Tessera;
use crate::error::Result;
use tessera_token::clock::Millis;

/// An hour's sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourOfSignIns {
    /// When the hour starts.
    pub start: Millis,
    /// Successful sign-ins.
    pub succeeded: i64,
    /// Refused ones.
    pub failed: i64,
}

/// The console's overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// Accounts.
    pub users: i64,
    /// Live sessions.
    pub live_sessions: i64,
    /// The last 24 hours, oldest first; the last is the hour now running.
    pub sign_ins: Vec<HourOfSignIns>,
}

const HOUR: Millis = 3_600_000;

/// How long the counts are reused: counting a million rows takes
/// milliseconds, and an overview a few seconds old tells the same story.
const COUNTS_FRESH_FOR: Millis = 10_000;

/// The counts of users and live sessions, and when they were taken.
#[derive(Debug, Default)]
pub(super) struct CountsCache(std::sync::Mutex<Option<(Millis, i64, i64)>>);

impl Tessera {
    /// The overview as of now.
    pub async fn overview(&self) -> Result<Overview> {
        let now = self.now();
        let since = (now / HOUR - 23) * HOUR;
        let mut sign_ins: Vec<HourOfSignIns> = (0..24)
            .map(|h| HourOfSignIns {
                start: since + h * HOUR,
                succeeded: 0,
                failed: 0,
            })
            .collect();
        for (event, failed) in [("login.succeeded", false), ("login.failed", true)] {
            for (bucket, n) in self.store.audit_counts(event, since, HOUR).await? {
                if let Some(hour) = usize::try_from(bucket)
                    .ok()
                    .and_then(|b| sign_ins.get_mut(b))
                {
                    if failed {
                        hour.failed = n;
                    } else {
                        hour.succeeded = n;
                    }
                }
            }
        }
        let (users, live_sessions) = self.counts().await?;
        Ok(Overview {
            users,
            live_sessions,
            sign_ins,
        })
    }

    /// How many users there are and how many sessions are live, counted at
    /// most every few seconds (the console and `/metrics` ask often).
    pub async fn counts(&self) -> Result<(i64, i64)> {
        let now = self.now();
        let cached = *self
            .counts
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(match cached {
            Some((at, users, live)) if now - at < COUNTS_FRESH_FOR && now >= at => (users, live),
            _ => {
                let users = self.store.count_users().await?;
                let live = self.store.count_live_sessions(now).await?;
                *self
                    .counts
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((now, users, live));
                (users, live)
            }
        })
    }
}
