//! What a cluster run records: the requests of the load and how each ended,
//! the tokens the server promised to refuse, the revocation bounds
//! measured, and what broke a promise.

use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long after a revocation is acknowledged every replica must refuse
/// the token before a verify that accepts it counts as a violation. The
/// run measures the real bound separately (after each logout).
pub const REVOCATION_ALLOWANCE: Duration = Duration::from_secs(1);
/// The refresh grace the fleet runs with (`TESSERA_REFRESH_GRACE`).
pub const GRACE: Duration = Duration::from_secs(2);

/// What a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `POST /auth/register`.
    Register,
    /// `POST /auth/login`.
    Login,
    /// `POST /auth/refresh`.
    Refresh,
    /// Two `POST /auth/refresh` of one token at once.
    DoubleRefresh,
    /// `POST /auth/logout`.
    Logout,
    /// `PATCH /users/{name}` with new roles, as the administrator.
    RoleChange,
    /// `POST /users/{name}/password` by the user.
    PasswordChange,
    /// `DELETE /users/{name}`, as the administrator.
    Delete,
    /// `GET /auth/verify` of a live token on one replica.
    VerifyLive,
    /// `GET /auth/verify` of a revoked token on one replica.
    VerifyRevoked,
}

impl Op {
    /// Whether a success is an acknowledged write.
    pub fn writes(self) -> bool {
        !matches!(self, Op::VerifyLive | Op::VerifyRevoked)
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Register => "register",
            Op::Login => "login",
            Op::Refresh => "refresh",
            Op::DoubleRefresh => "refresh ×2",
            Op::Logout => "logout",
            Op::RoleChange => "role change",
            Op::PasswordChange => "password change",
            Op::Delete => "delete",
            Op::VerifyLive => "verify",
            Op::VerifyRevoked => "verify revoked",
        }
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The answer the model predicted.
    Expected,
    /// A 5xx or no answer: the client cannot know whether a write happened.
    Failed,
    /// A 4xx the model did not predict (each is also described in
    /// [`Record::anomalies`]).
    Unexpected,
}

/// One request of the load.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    /// When it was sent.
    pub sent: Instant,
    /// How long until its answer (or failure).
    pub took: Duration,
    /// What it was.
    pub op: Op,
    /// How it ended.
    pub outcome: Outcome,
}

/// A token the server promised to refuse from `at` on.
#[derive(Clone, Debug)]
pub struct Revoked {
    /// The access token.
    pub access: String,
    /// The session's last refresh token (`None` when only the access token
    /// was invalidated, by a role change).
    pub refresh: Option<String>,
    /// When the revoking write was acknowledged.
    pub at: Instant,
    /// What revoked it.
    pub why: &'static str,
    /// When the revoking request was sent and answered (Unix ms), to set
    /// against the token's own times in a report.
    pub wall: (u128, u128),
}

/// Now, in Unix milliseconds.
pub fn wall_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// What a report says about an access token: its user, roles, `iat`, and
/// the millisecond its `jti` (a UUIDv7) records.
pub fn describe(token: &str) -> String {
    use base64::Engine as _;
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or(Value::Null);
    let minted = claims["jti"]
        .as_str()
        .and_then(|j| u128::from_str_radix(j.replace('-', "").get(..12)?, 16).ok());
    format!(
        "{} roles {} iat {} minted {:?}",
        claims["username"], claims["roles"], claims["iat"], minted
    )
}

/// Everything the load observed, shared by its workers.
#[derive(Default)]
pub struct Record {
    /// Every request, in the order answered.
    pub requests: Mutex<Vec<Request>>,
    /// Tokens that must be refused.
    pub revoked: Mutex<Vec<Revoked>>,
    /// From a logout's acknowledgement to every replica refusing its token.
    pub revocation_bounds: Mutex<Vec<Duration>>,
    /// Answers the model did not predict that break a promise: a revoked
    /// token accepted, a refresh token honoured twice.
    pub violations: Mutex<Vec<String>>,
    /// Other unpredicted answers (a live token refused, a live session's
    /// refresh refused), with what was asked.
    pub anomalies: Mutex<Vec<String>>,
    /// Tokens accepted by a replica cut off from the database that were
    /// revoked elsewhere while it was cut off: it cannot know until its
    /// link is back (docs/operations.md).
    pub stale_while_cut_off: Mutex<Vec<String>>,
    /// Why each failed request failed (`503 unavailable`, `502 no error
    /// body`, `connection refused or failed`, …), in the order answered.
    pub failures: Mutex<Vec<String>>,
}

/// Appends to a shared list.
pub fn push<T>(list: &Mutex<Vec<T>>, item: T) {
    if let Ok(mut list) = list.lock() {
        list.push(item);
    }
}

/// Takes a snapshot of a shared list.
pub fn snapshot<T: Clone>(list: &Mutex<Vec<T>>) -> Vec<T> {
    list.lock().map(|l| l.clone()).unwrap_or_default()
}
