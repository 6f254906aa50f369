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
        Ok(Overview {
            users: self.store.count_users().await?,
            live_sessions: self.store.count_live_sessions(now).await?,
            sign_ins,
        })
    }
}
